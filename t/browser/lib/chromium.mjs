// Headless Debian chromium (playwright-core) for the t/browser/*.test.mjs
// scripts.
//
//   import { runInChromium } from './lib/chromium.mjs';
//   await runInChromium('chat browser test', DEADLINE_MS, async (browser) => {
//     ...checks through ./lib/tap.mjs...
//   });
//
// runInChromium(WHAT, DEADLINE_MS, RUN) starts a watchdog (after DEADLINE_MS:
// a failed check "WHAT finished within DEADLINE_MS ms", then the plan and
// exit 1), launches the browser with launchOptions(), awaits RUN(browser)
// (an exception is a failed check "WHAT ran to the end" with its stack),
// closes the browser, stops the watchdog and ends the TAP (finish: the plan,
// exit 1 when a check failed).
//
// launchOptions(): the executable is env CHATVISOR_CHROMIUM (default
// /usr/bin/chromium); no sandbox, GPU, QUIC, first-run or background
// traffic.
import { chromium } from 'playwright-core';
import { ok, finish } from './tap.mjs';

export const CHROMIUM = process.env.CHATVISOR_CHROMIUM || '/usr/bin/chromium';

export function launchOptions() {
  return {
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  };
}

export async function runInChromium(what, deadlineMs, run) {
  const watchdog = setTimeout(() => {
    ok(false, `${what} finished within ${deadlineMs} ms`);
    finish(1);
  }, deadlineMs);
  let browser;
  try {
    browser = await chromium.launch(launchOptions());
    await run(browser);
  } catch (e) {
    ok(false, `${what} ran to the end`, String(e && e.stack || e));
  } finally {
    if (browser) await browser.close().catch(() => {});
    clearTimeout(watchdog);
  }
  finish();
}
