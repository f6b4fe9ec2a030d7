// Loading one of our own bundles on demand (the widget's co-browsing
// recorder, the console's replay): a <script src> from the same origin, so
// a page CSP that allows the widget allows it too. A bundle announces
// itself by setting a property of `win`; the promise resolves with it.
//
//   const api = await loadScript(win, url, '__chatvisorRecorder');
//
// Asked again for the same URL it waits for the same <script>.

const loading = new Map();    // url -> promise

export function loadScript(win, url, property) {
  if (win[property]) return Promise.resolve(win[property]);
  if (!loading.has(url)) {
    loading.set(url, new Promise((resolve, reject) => {
      const doc = win.document;
      const script = doc.createElement('script');
      script.src = url;
      script.async = true;
      script.onload = () => (win[property] ? resolve(win[property]) : reject(new Error(url + ' did not load')));
      script.onerror = () => {
        loading.delete(url);    // a later call may try again
        reject(new Error(url + ' could not be loaded'));
      };
      (doc.head || doc.documentElement).appendChild(script);
    }));
  }
  return loading.get(url);
}
