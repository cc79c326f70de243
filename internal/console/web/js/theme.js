// Runs before the first paint (a classic script, so the page never flashes
// the wrong theme): applies the theme chosen with the toggle, if any; with
// none, the CSS follows prefers-color-scheme.
(function () {
  try {
    var t = localStorage.getItem('vigil.theme');
    if (t === 'light' || t === 'dark') document.documentElement.setAttribute('data-theme', t);
  } catch (e) { /* storage disabled: follow the system */ }
})();
