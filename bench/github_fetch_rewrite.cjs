// Preloaded into the archived reference GitHub server (`node --require this index.js`), which
// hard-codes https://api.github.com: its fetch calls go to $GITHUB_API_URL instead (the fake).
const target = process.env.GITHUB_API_URL;
if (target) {
  const original = globalThis.fetch;
  globalThis.fetch = (url, options) =>
    original(String(url).replace(/^https:\/\/api\.github\.com/, target.replace(/\/$/, "")), options);
}
