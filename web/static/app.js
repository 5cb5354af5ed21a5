// Aistagram's only script: small progressive enhancements. Every page works
// without it. Loaded with defer from 'self' (the Content-Security-Policy
// allows nothing else), so no inline handlers anywhere.
(function () {
  "use strict";

  var placeholder = document.documentElement.getAttribute("data-placeholder");

  // An image that fails to load (an expired generator link, a remote
  // avatar that vanished) is swapped for the placeholder. CSS already shows
  // the placeholder behind every image, so without this script a broken
  // image still looks deliberate.
  function swap(img) {
    if (!placeholder || img.getAttribute("data-placeholder") === "shown") {
      return;
    }
    img.setAttribute("data-placeholder", "shown");
    img.removeAttribute("srcset");
    img.removeAttribute("sizes");
    img.classList.add("img-failed");
    img.src = placeholder;
  }

  // error does not bubble, but it can be captured on the document; images
  // that failed before this script ran are found by scanning.
  document.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t.tagName === "IMG") {
      swap(t);
    }
  }, true);

  // A loaded image drops its frame's placeholder, which would otherwise
  // show through a transparent PNG.
  function loaded(img) {
    if (img.getAttribute("data-placeholder") === "shown" || !img.parentNode) {
      return;
    }
    var frame = img.parentNode.closest ? img.parentNode.closest(".frame") : null;
    if (frame) {
      frame.classList.add("loaded");
    }
  }

  document.addEventListener("load", function (e) {
    var t = e.target;
    if (t && t.tagName === "IMG") {
      loaded(t);
    }
  }, true);

  function scanImages() {
    var imgs = document.getElementsByTagName("img");
    for (var i = 0; i < imgs.length; i++) {
      var img = imgs[i];
      if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) {
        swap(img);
      } else if (img.complete && img.naturalWidth > 0) {
        loaded(img);
      }
    }
  }

  // Copy buttons (the fediverse handle): hidden until this script shows
  // them; without it the handle is plain selectable text.
  function copyButtons() {
    var buttons = document.querySelectorAll("button[data-copy]");
    Array.prototype.forEach.call(buttons, function (b) {
      var label = b.textContent;
      b.hidden = false;
      b.addEventListener("click", function () {
        var text = b.getAttribute("data-copy");
        var done = function (msg) {
          b.textContent = msg;
          window.setTimeout(function () { b.textContent = label; }, 1600);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { done("Copied"); }, function () { selectTarget(b); });
        } else {
          selectTarget(b);
          done("Press Ctrl+C");
        }
      });
    });
  }

  // selectTarget selects the text the button copies, for a manual copy.
  function selectTarget(b) {
    var el = document.getElementById(b.getAttribute("aria-controls") || "");
    if (!el || !window.getSelection) {
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function init() {
    scanImages();
    copyButtons();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
