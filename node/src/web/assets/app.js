// Mirror's one script: on the write page, the mirrorback appears sentence
// by sentence as the node lets each through (every one has passed the
// compliance checker on the node; a rejected attempt is taken back).
// Without it the form posts as usual and the answer shows whole.
(function () {
  "use strict";
  var form = document.querySelector("form.editor");
  if (!form || !window.fetch || !window.TextDecoder || !window.ReadableStream) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    var live = document.createElement("p");
    live.className = "answer";
    live.id = "live";
    live.setAttribute("aria-live", "polite");
    live.textContent = "…";
    form.after(live);
    var started = false;
    var main = document.getElementById("main");
    var show = function (line) {
      if (!line) return;
      var event = JSON.parse(line);
      if (event.sentence !== undefined) {
        if (!started) { live.textContent = ""; started = true; }
        live.append(document.createTextNode(event.sentence));
      } else if (event.erase) {
        live.textContent = "";
        started = false;
      } else if (event.done !== undefined) {
        // Rendered and escaped on the node, like every page.
        main.innerHTML = event.done;
        document.title = "Your mirrorback · Mirror";
      }
    };
    fetch("/reflect/live", {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok || !response.body) {
        return response.text().then(function (page) { document.documentElement.innerHTML = page; });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      var pump = function () {
        return reader.read().then(function (chunk) {
          if (chunk.done) { show(buffer.trim()); return; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var lines = buffer.split("\n");
          buffer = lines.pop();
          lines.forEach(show);
          return pump();
        });
      };
      return pump();
    }).catch(function () {
      button.disabled = false;
      live.textContent = "The node did not answer; try again.";
    });
  });
})();
