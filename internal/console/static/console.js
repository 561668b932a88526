// The console's only script: it refreshes the parts of a page marked data-live every two seconds, without a reload,
// unless the person is typing in them.
(function () {
  "use strict";
  function refresh(el) {
    var active = document.activeElement;
    if (active && el.contains(active) && (active.tagName === "INPUT" || active.tagName === "TEXTAREA")) {
      return;
    }
    fetch(el.dataset.live, { credentials: "same-origin", headers: { "X-Requested-With": "console" } })
      .then(function (r) {
        if (r.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined && html !== el.dataset.last) {
          el.dataset.last = html;
          el.innerHTML = html;
        }
      })
      .catch(function () {});
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      setInterval(function () { refresh(el); }, 2000);
    });
  });
})();
