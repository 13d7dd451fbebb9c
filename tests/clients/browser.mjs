// Headless Chromium for the browser tests: Debian's `chromium` package driven by
// playwright-core. Only 127.0.0.1 is reachable: every other request is refused and
// reported, so a page that needs the internet fails its test.
import { chromium } from "playwright-core";

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Opens a browser; `newContext()` gives a fresh profile (one person) whose pages reach
 * only 127.0.0.1. `outside` collects what they tried beyond it, `pageErrors` their
 * uncaught script errors.
 */
export async function localBrowser() {
  // Names other than 127.0.0.1 resolve to nothing, which also stops websockets (the
  // routes below see HTTP requests only).
  const args = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"];
  if (process.getuid?.() === 0) args.push("--no-sandbox");
  const browser = await chromium.launch({ executablePath, args });
  const outside = [];
  const pageErrors = [];
  const newContext = async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.route(
      (url) => url.hostname !== "127.0.0.1",
      (route) => {
        outside.push(route.request().url());
        return route.abort("internetdisconnected");
      },
    );
    context.on("page", (page) => {
      page.on("pageerror", (error) => pageErrors.push(error.message));
      // Shown only if the test fails (the runner prints standard error then).
      page.on("console", (message) => {
        if (message.type() === "error") console.error(`console: ${message.text()}`);
      });
    });
    return context;
  };
  return { browser, newContext, outside, pageErrors };
}

/** Waits until `check` returns something truthy, or fails after `millis`. */
export async function eventually(check, millis, what) {
  const deadline = Date.now() + millis;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
