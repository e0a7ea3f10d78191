/* comfyweb: the image viewer of the results and "my creations" pages.
 * A native <dialog> (templates/campaigns/_lightbox.html) over the links marked data-lightbox-item:
 * previous/next (buttons, arrow keys, Home/End, swipe), full size (button or click on the image),
 * download (the page's named download), close (button, Escape, a click beside the image).
 * Without this file the links simply open the image. */
(function () {
  "use strict";
  var dialog, stage, image, counter, prevButton, nextButton, zoomButton, downloadLink, closeButton;
  var items = [];
  var index = 0;
  var opener = null;
  var swipe = null;
  var SWIPE_MIN = 50; // px of horizontal travel that turns the picture

  function collect(link) {
    var scope = link.closest("[data-gallery]") || document;
    return Array.prototype.slice.call(scope.querySelectorAll("a[data-lightbox-item]"));
  }

  function setZoom(on) {
    stage.classList.toggle("lb-zoomed", on);
    zoomButton.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function show(i) {
    if (!items.length) return;
    index = (i + items.length) % items.length;
    var item = items[index];
    var thumb = item.querySelector("img");
    setZoom(false);
    image.src = item.href;
    image.alt = thumb ? thumb.alt : "";
    downloadLink.href = item.dataset.downloadUrl || item.href;
    counter.textContent = (index + 1) + " / " + items.length;
    prevButton.disabled = nextButton.disabled = items.length < 2;
  }

  function open(link) {
    items = collect(link);
    opener = link;
    document.documentElement.classList.add("lb-open");
    if (!dialog.open) dialog.showModal();
    show(items.indexOf(link));
    closeButton.focus();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  function onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var moves = { ArrowLeft: -1, ArrowRight: 1 };
    if (event.key in moves) { show(index + moves[event.key]); event.preventDefault(); }
    else if (event.key === "Home") { show(0); event.preventDefault(); }
    else if (event.key === "End") { show(items.length - 1); event.preventDefault(); }
  }

  function init() {
    dialog = document.querySelector("dialog[data-lightbox]");
    if (!dialog || typeof dialog.showModal !== "function") return;
    stage = dialog.querySelector("[data-lb-stage]");
    image = dialog.querySelector("[data-lb-image]");
    counter = dialog.querySelector("[data-lb-counter]");
    prevButton = dialog.querySelector("[data-lb-prev]");
    nextButton = dialog.querySelector("[data-lb-next]");
    zoomButton = dialog.querySelector("[data-lb-zoom]");
    downloadLink = dialog.querySelector("[data-lb-download]");
    closeButton = dialog.querySelector("[data-lb-close]");

    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[data-lightbox-item]");
      if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      open(link);
    });
    prevButton.addEventListener("click", function () { show(index - 1); });
    nextButton.addEventListener("click", function () { show(index + 1); });
    zoomButton.addEventListener("click", function () { setZoom(!stage.classList.contains("lb-zoomed")); });
    image.addEventListener("click", function () { if (!swipe || !swipe.moved) setZoom(!stage.classList.contains("lb-zoomed")); });
    closeButton.addEventListener("click", close);
    dialog.addEventListener("keydown", onKey);
    dialog.addEventListener("click", function (event) {
      if ((event.target === dialog || event.target === stage) && !(swipe && swipe.moved)) close();
    });
    dialog.addEventListener("close", function () {
      document.documentElement.classList.remove("lb-open");
      image.removeAttribute("src");
      if (opener && document.contains(opener)) opener.focus();
    });

    // Swipe left/right on touch screens (not while zoomed in: then a drag moves the picture).
    stage.addEventListener("pointerdown", function (event) {
      swipe = { x: event.clientX, y: event.clientY, moved: false };
    });
    stage.addEventListener("pointerup", function (event) {
      if (!swipe || stage.classList.contains("lb-zoomed")) { swipe = null; return; }
      var dx = event.clientX - swipe.x, dy = event.clientY - swipe.y;
      if (Math.abs(dx) >= SWIPE_MIN && Math.abs(dx) > Math.abs(dy)) {
        swipe.moved = true;
        show(index + (dx < 0 ? 1 : -1));
      }
      setTimeout(function () { swipe = null; }, 0);
    });
    stage.addEventListener("pointercancel", function () { swipe = null; });
  }

  if (document.readyState !== "loading") init(); else document.addEventListener("DOMContentLoaded", init);
})();
