// Starts Redoc on /redoc. The page's policy admits Redoc's injected <style> elements by a
// per-request nonce, which Redoc copies from this script's own nonce onto each of them.
(function () {
  "use strict";
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapiUrl, { nonce: document.currentScript.nonce }, root);
})();
