// Server push for the list pages: one EventSource on api/v1/stream, with
// reloads after a reconnect or "resync", and polling only as a fallback
// when the stream keeps failing.

const FALLBACK_AFTER = 3; // failed connections in a row before polling
const RETRY_MS = 5000;

// live opens GET api/v1/stream?{query} and calls handlers[event](data) for
// each data event (JSON-decoded). reload() runs after a reconnect and on
// "resync", since events may have been missed. After FALLBACK_AFTER
// connections in a row fail, the returned object's polling is true (the
// page's refresh then polls as before) while it keeps trying to connect;
// the first "hello" ends the fallback.
export function live(query, handlers, reload) {
  const st = { polling: false, close };
  let es = null, retry = 0, fails = 0, connectedOnce = false, closed = false;
  function connect() {
    clearTimeout(retry);
    if (es) es.close();
    es = new EventSource("api/v1/stream" + (query ? "?" + query : ""));
    let helloed = false;
    es.addEventListener("hello", () => {
      helloed = true;
      fails = 0;
      const wasPolling = st.polling;
      st.polling = false;
      document.body.dataset.live = "live"; // the browser tests wait on this
      if (connectedOnce || wasPolling) { performance.mark("live:reconnect"); reload(); }
      connectedOnce = true;
    });
    for (const [name, f] of Object.entries(handlers)) {
      es.addEventListener(name, (e) => {
        let data;
        try { data = JSON.parse(e.data); } catch { return; }
        f(data);
      });
    }
    es.addEventListener("resync", () => { performance.mark("live:resync"); reload(); }); // the browser tests count these
    es.addEventListener("logout", () => { close(); dispatchEvent(new Event("mw:unauthorized")); });
    es.onerror = () => {
      if (closed) return;
      if (!helloed && ++fails >= FALLBACK_AFTER) st.polling = true;
      document.body.dataset.live = st.polling ? "polling" : "down";
      helloed = false;
      // A refused stream (503, 401) is CLOSED and not retried by the
      // browser; a dropped one retries by itself.
      if (es.readyState === EventSource.CLOSED) retry = setTimeout(connect, RETRY_MS);
    };
  }
  function close() {
    closed = true;
    clearTimeout(retry);
    if (es) es.close();
    es = null;
    delete document.body.dataset.live;
  }
  connect();
  return st;
}

// coalesce returns a trigger that runs f at most once per ms, however often
// it is pulled; runs never overlap, and a pull during a run schedules one more.
export function coalesce(f, ms) {
  let timer = 0, running = false, again = false, last = 0;
  const run = async () => {
    timer = 0;
    if (running) { again = true; return; }
    running = true;
    last = Date.now();
    try { await f(); } catch (e) { console.warn(e); }
    running = false;
    if (again) { again = false; pull(); }
  };
  function pull() {
    if (timer) return;
    if (running) { again = true; return; }
    timer = setTimeout(run, Math.max(0, last + ms - Date.now()));
  }
  pull.cancel = () => { clearTimeout(timer); timer = 0; again = false; };
  return pull;
}

// settle returns a trigger that runs f once pulls have stopped for quiet ms,
// or max ms after the first unanswered pull: a burst of resyncs (a slow page
// under 5,000 machines' metrics) costs one reload, after the burst. Runs
// never overlap.
export function settle(f, quiet, max) {
  let timer = 0, first = 0, running = false, again = false;
  const run = async () => {
    timer = 0;
    first = 0;
    running = true;
    try { await f(); } catch (e) { console.warn(e); }
    running = false;
    if (again) { again = false; pull(); }
  };
  function pull() {
    if (running) { again = true; return; }
    const now = Date.now();
    if (!first) first = now;
    clearTimeout(timer);
    timer = setTimeout(run, Math.max(0, Math.min(quiet, first + max - now)));
  }
  pull.cancel = () => { clearTimeout(timer); timer = 0; first = 0; again = false; };
  return pull;
}
