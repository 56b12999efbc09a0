// Drive zhifu's v3 OpenAPI with Ant's unmodified Node SDK (npm `alipay-sdk` 4.x),
// through its own `curl()`. Reads a JSON job from stdin:
//   {"sdk": <path of the alipay-sdk package>, "config": {AlipaySdkConfig...},
//    "calls": [{"verb", "path", "options"}]}
// and prints one JSON result per call: {"status", "data"} or
// {"error": {"name", "code", "status", "message"}}.
'use strict';

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const { AlipaySdk } = require(job.sdk);
  const sdk = new AlipaySdk(job.config);
  const results = [];
  for (const call of job.calls) {
    try {
      const result = await sdk.curl(call.verb, call.path, call.options || {});
      results.push({ status: result.responseHttpStatus, data: result.data });
    } catch (err) {
      results.push({
        error: { name: err.name, code: err.code, status: err.responseHttpStatus, message: err.message },
      });
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch(err => {
  process.stderr.write(String(err && err.stack || err));
  process.exit(1);
});
