// Starts Swagger UI on /docs. A file, not an inline script, so the page's
// Content-Security-Policy (script-src 'self') holds here too.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    // The default asks validator.swagger.io for a badge image: no request leaves the machine.
    validatorUrl: null
  });
})();
