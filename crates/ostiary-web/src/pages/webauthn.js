// Ostiary passkey ceremonies. The server embeds WebAuthn options (binary fields base64url) in a
// <script type="application/json"> element; a button with data-webauthn="create|get" runs the
// ceremony and posts the credential back in its form. Pages work without it for every other method.
(function () {
  "use strict";
  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64u(buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ext(cred) { return cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}; }
  async function create(opts) {
    var p = opts.publicKey;
    p.challenge = toBuf(p.challenge);
    p.user.id = toBuf(p.user.id);
    (p.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    var cred = await navigator.credentials.create({ publicKey: p });
    return {
      id: cred.id, rawId: toB64u(cred.rawId), type: cred.type, extensions: ext(cred),
      response: {
        attestationObject: toB64u(cred.response.attestationObject),
        clientDataJSON: toB64u(cred.response.clientDataJSON),
        transports: cred.response.getTransports ? cred.response.getTransports() : []
      }
    };
  }
  async function get(opts) {
    var p = opts.publicKey;
    p.challenge = toBuf(p.challenge);
    (p.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    var cred = await navigator.credentials.get({ publicKey: p });
    var r = cred.response;
    return {
      id: cred.id, rawId: toB64u(cred.rawId), type: cred.type, extensions: ext(cred),
      response: {
        authenticatorData: toB64u(r.authenticatorData), clientDataJSON: toB64u(r.clientDataJSON),
        signature: toB64u(r.signature), userHandle: r.userHandle ? toB64u(r.userHandle) : null
      }
    };
  }
  document.querySelectorAll("[data-webauthn]").forEach(function (btn) {
    if (!window.PublicKeyCredential) return;
    btn.hidden = false;
    btn.addEventListener("click", async function (ev) {
      ev.preventDefault();
      var form = btn.closest("form");
      var status = document.getElementById("webauthn-status");
      var opts = JSON.parse(document.getElementById(btn.getAttribute("data-options")).textContent);
      try {
        btn.disabled = true;
        var result = btn.getAttribute("data-webauthn") === "create" ? await create(opts) : await get(opts);
        form.querySelector("input[name=credential]").value = JSON.stringify(result);
        form.submit();
      } catch (e) {
        btn.disabled = false;
        if (status) { status.hidden = false; status.textContent = "The passkey was not used. Try again or choose another method."; }
      }
    });
  });
})();
