// War Room API reference: Swagger UI (vendored at a pinned version, served by the binary,
// so it works offline) over this server's own document. "Try it out" sends requests from
// this page: with the browser's War Room session (its cookies, plus the CSRF token that
// state changes need), or with a token or API key given under Authorize.
"use strict";

/** The session's CSRF token, from the cookie the web app's login set. */
function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)warroom_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : null;
}

window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // No call to the public validator: nothing leaves this server.
  validatorUrl: null,
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true,
  requestInterceptor: (request) => {
    const token = csrfToken();
    if (token && !/^(GET|HEAD|OPTIONS)$/i.test(request.method || "GET")) {
      request.headers["X-CSRF-Token"] = token;
    }
    return request;
  },
});
