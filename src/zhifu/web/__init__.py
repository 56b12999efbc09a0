"""The web apps, thin routers on one shared kit (see docs/web.md).

    kit/        session, CSRF, forms, rendering, translations, charts, codes, sign-in,
                error texts: what every app does with a browser
    site        the landing page and the language switch
    checkout/   the hosted checkout a merchant sends its buyer to
    wallet/     the consumer wallet
    portal/     the merchant portal

templates/, static/ and locale/ stay here, shared by every app. The apps import the kit,
never each other; zhifu.api includes their routers.
"""
