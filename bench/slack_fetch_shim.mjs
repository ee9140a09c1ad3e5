// Loaded with `node --import` by bench/slack_vs_reference.py: the archived reference Slack server
// calls https://slack.com/api/... with no setting to change that, so this rewrites that prefix of
// every fetch URL to PATCHBAY_BENCH_SLACK_API (the fake Slack on 127.0.0.1). Nothing else changes.
const target = process.env.PATCHBAY_BENCH_SLACK_API;
const prefix = "https://slack.com/api/";
const original = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (target && url.startsWith(prefix)) {
    return original(target + url.slice(prefix.length), init);
  }
  return original(input, init);
};
