/* Browser-side pieces of the dashboard (Dash serves assets/*.js with the page, before it renders):
 * - the theme: Bootstrap 5.3's data-bs-theme on <html>, remembered in localStorage, set before the first paint;
 *   charts follow through CSS (see callbacks.figures._layout and dashboard.css);
 * - the zoom sync: zooming a chart applies the same time range to the axes of the same symbol in the other
 *   charts of its tab (each figure names its axes' symbols in layout.meta.xsync);
 * - tables sent as markup (layouts.widgets.table_markup) into "<id>-html" stores are shown in the element "<id>";
 * - force exit: an open trade's Exit button (data-trade, data-confirm) asks to confirm, then hands the trade
 *   to the "force-exit-request" store, whose server callback closes it. */
(function () {
  "use strict";
  var THEME_KEY = "hls-theme";

  function storedTheme() {
    try {
      return window.localStorage.getItem(THEME_KEY) === "dark" ? "dark" : "light";
    } catch (e) {
      return "light";
    }
  }

  function applyTheme(theme) {
    document.documentElement.setAttribute("data-bs-theme", theme);
  }

  applyTheme(storedTheme());

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".hls-exit-button[data-trade]");
    if (!button || !window.confirm(button.getAttribute("data-confirm"))) return;
    window.dash_clientside.set_props("force-exit-request",
                                     {data: {trade: Number(button.getAttribute("data-trade")), at: Date.now()}});
  });

  function plotOf(id) {
    var el = document.getElementById(id);
    return el && el.querySelector(".js-plotly-plot");
  }

  function changedAxis(relayout) {
    var keys = Object.keys(relayout || {});
    for (var i = 0; i < keys.length; i++) {
      var m = keys[i].match(/^(xaxis\d*)\.(range|autorange)/);
      if (m) return m[1];
    }
    return null;
  }

  function toMs(v) {
    if (typeof v === "number") return v;
    var s = String(v).replace(" ", "T");
    return Date.parse(/Z|[+-]\d\d:?\d\d$/.test(s) ? s : s + "Z");
  }

  function sameRange(a, b) {
    return a && b && Math.abs(toMs(a[0]) - toMs(b[0])) < 1000 && Math.abs(toMs(a[1]) - toMs(b[1])) < 1000;
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.hls = {
    toggleTheme: function () {
      var theme = document.documentElement.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
      try {
        window.localStorage.setItem(THEME_KEY, theme);
      } catch (e) { /* private mode: this page only */ }
      applyTheme(theme);
      return theme;
    },

    showMarkup: function () {  // "<id>-html" stores -> the element "<id>" (tables as one element each)
      window.dash_clientside.callback_context.triggered.forEach(function (t) {
        var el = document.getElementById(t.prop_id.replace(/-html\.data$/, ""));
        if (el && typeof t.value === "string") el.innerHTML = t.value;
      });
      return window.dash_clientside.no_update;
    },

    syncZoom: function () {
      var noUpdate = window.dash_clientside.no_update;
      var context = window.dash_clientside.callback_context;
      var trigger = context.triggered && context.triggered[0];
      if (!trigger || !trigger.value) return noUpdate;
      var sourceId = trigger.prop_id.split(".")[0];
      var source = plotOf(sourceId);
      var axis = changedAxis(trigger.value);
      if (!source || !axis || !source._fullLayout[axis]) return noUpdate;
      var symbol = ((source.layout.meta || {}).xsync || {})[axis];
      var range = source._fullLayout[axis].range;  // as drawn: also after a reset to autorange
      if (!symbol || !range) return noUpdate;
      context.inputs_list.forEach(function (input) {
        var target = input.id === sourceId ? null : plotOf(input.id);
        if (!target || !target._fullLayout) return;
        var sync = (target.layout.meta || {}).xsync || {};
        var update = {};
        Object.keys(sync).forEach(function (name) {
          var full = target._fullLayout[name];
          if (sync[name] === symbol && full && !full.matches && !sameRange(full.range, range)) {
            update[name + ".range"] = range.slice();
          }
        });
        if (Object.keys(update).length) window.Plotly.relayout(target, update);
      });
      return noUpdate;
    }
  };
})();
