/* comfyweb: turn and crop a photo before it is uploaded (the template page's photo fields).
 * Progressive enhancement: without this file the photo is sent as chosen. The parts come from the page
 * (templates/campaigns/_photo_edit.html, in the visitor's language); the edited photo replaces the chosen
 * file in its input, drawn from the original at most MAX_SIDE pixels a side. The server checks it like
 * any upload. Keyboard: the buttons and sliders are native controls; arrow keys on the photo move the frame. */
(function () {
  "use strict";
  var MAX_SIDE = 2048; // as site.js: larger photos are made smaller before upload
  var DRAW_SIDE = 720; // the on-screen drawing's resolution
  var STEP = 0.02, BIG_STEP = 0.1; // arrow keys move the frame by this share of the photo

  function onReady(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  function gcd(a, b) { while (b) { var t = b; b = a % b; a = t; } return a; }

  function clamp(value, low, high) { return Math.min(Math.max(value, low), high); }

  function parseShape(text) {
    var parts = String(text || "").split(":").map(Number);
    return parts.length === 2 && parts[0] > 0 && parts[1] > 0 ? parts : null;
  }

  function Editor(mount, input, template) {
    this.mount = mount;
    this.input = input;
    this.shape = parseShape(mount.dataset.shape);
    this.holder = template.content.firstElementChild.cloneNode(true);
    this.root = this.holder.querySelector("[data-photo-edit]");
    this.opener = this.holder.querySelector("[data-pe-open]");
    this.preview = document.querySelector('img[data-preview-for="' + input.id + '"]');
    this.canvas = this.root.querySelector("[data-pe-canvas]");
    this.stage = this.root.querySelector("[data-pe-stage]");
    this.result = this.root.querySelector("[data-pe-result]");
    this.sliders = {
      size: this.root.querySelector("[data-pe-size]"),
      width: this.root.querySelector("[data-pe-width]"),
      height: this.root.querySelector("[data-pe-height]")
    };
    this.file = null;
    this.bitmap = null;
    this.pending = null;
    this.timer = null;
    this.drag = null;
    this.reset();
    var keys = this.root.querySelector("[data-pe-keys]");
    keys.id = "pe-keys-" + input.id;
    this.result.id = "pe-result-" + input.id;
    this.stage.setAttribute("aria-describedby", keys.id + " " + this.result.id);
    var templateButton = this.root.querySelector('[data-pe-shape="template"]');
    if (this.shape) {
      var d = gcd(this.shape[0], this.shape[1]);
      templateButton.textContent = templateButton.dataset.label.replace("%s", this.shape[0] / d + ":" + this.shape[1] / d);
    } else {
      templateButton.remove();
    }
    this.root.id = "pe-" + input.id;
    this.opener.setAttribute("aria-controls", this.root.id);
    mount.appendChild(this.holder);
    this.bind();
  }

  Editor.prototype.reset = function () {
    this.turns = 0; // quarter turns clockwise
    this.mode = "whole";
    this.size = 1; this.fw = 1; this.fh = 1; // the frame: its size (template shape), or its width and height (free)
    this.cx = 0.5; this.cy = 0.5; // the frame's centre, as a share of the turned photo
    this.sliders.size.value = 100; this.sliders.width.value = 100; this.sliders.height.value = 100;
  };

  Editor.prototype.turned = function () {
    var b = this.bitmap, side = this.turns % 2;
    return { w: side ? b.height : b.width, h: side ? b.width : b.height };
  };

  Editor.prototype.frame = function () {
    // The crop in pixels of the turned photo: {x, y, w, h}.
    var t = this.turned(), w = t.w, h = t.h;
    if (this.mode === "template" && this.shape) {
      var ratio = this.shape[0] / this.shape[1];
      if (t.w / t.h > ratio) { h = t.h; w = t.h * ratio; } else { w = t.w; h = t.w / ratio; }
      w *= this.size; h *= this.size;
    } else if (this.mode === "free") {
      w = t.w * this.fw; h = t.h * this.fh;
    }
    w = Math.max(1, Math.round(w)); h = Math.max(1, Math.round(h));
    var x = Math.round(clamp(this.cx * t.w - w / 2, 0, t.w - w));
    var y = Math.round(clamp(this.cy * t.h - h / 2, 0, t.h - h));
    this.cx = (x + w / 2) / t.w; this.cy = (y + h / 2) / t.h;
    return { x: x, y: y, w: w, h: h };
  };

  Editor.prototype.outputSize = function (frame) {
    var scale = Math.min(1, MAX_SIDE / Math.max(frame.w, frame.h));
    return { w: Math.max(1, Math.round(frame.w * scale)), h: Math.max(1, Math.round(frame.h * scale)), scale: scale };
  };

  Editor.prototype.drawTurned = function (ctx, scale) {
    // The whole photo, turned, into a context scaled by `scale` (pixels of the context per photo pixel).
    var b = this.bitmap, t = this.turned();
    ctx.save();
    ctx.scale(scale, scale);
    ctx.translate(t.w / 2, t.h / 2);
    ctx.rotate(this.turns * Math.PI / 2);
    ctx.drawImage(b, -b.width / 2, -b.height / 2);
    ctx.restore();
  };

  Editor.prototype.draw = function () {
    var t = this.turned(), frame = this.frame();
    var scale = Math.min(1, DRAW_SIDE / Math.max(t.w, t.h));
    var canvas = this.canvas, ctx = canvas.getContext("2d");
    canvas.width = Math.round(t.w * scale);
    canvas.height = Math.round(t.h * scale);
    this.drawTurned(ctx, scale);
    if (this.mode !== "whole") {
      ctx.save();
      ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
      ctx.beginPath();
      ctx.rect(0, 0, canvas.width, canvas.height);
      ctx.rect(frame.x * scale, frame.y * scale, frame.w * scale, frame.h * scale);
      ctx.fill("evenodd");
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.strokeRect(frame.x * scale + 1, frame.y * scale + 1, frame.w * scale - 2, frame.h * scale - 2);
      ctx.restore();
    }
    this.stage.classList.toggle("pe-whole", this.mode === "whole");
    var size = this.outputSize(frame);
    this.result.textContent = this.result.dataset.pattern.replace("{w}", size.w).replace("{h}", size.h);
    var shown = { size: this.mode === "template", width: this.mode === "free", height: this.mode === "free" };
    this.root.querySelectorAll("[data-pe-for]").forEach(function (label) { label.hidden = !shown[label.dataset.peFor]; });
    this.root.querySelectorAll("[data-pe-shape]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.peShape === this.mode ? "true" : "false");
    }, this);
  };

  Editor.prototype.changed = function () {
    // Draw now; make the file to send a moment later (a submit meanwhile waits for it: site.js).
    this.draw();
    var editor = this;
    if (!this.pending) {
      this.pending = new Promise(function (resolve) { editor.resolvePending = resolve; });
      if (window.comfyweb && window.comfyweb.beforeSubmit) window.comfyweb.beforeSubmit(this.pending);
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { editor.apply(); }, 150);
  };

  Editor.prototype.apply = function () {
    var editor = this, file = this.file, frame = this.frame(), size = this.outputSize(frame);
    var canvas = document.createElement("canvas");
    canvas.width = size.w;
    canvas.height = size.h;
    var ctx = canvas.getContext("2d");
    ctx.scale(size.scale, size.scale);
    ctx.translate(-frame.x, -frame.y);
    this.drawTurned(ctx, 1);
    var type = file.type === "image/png" ? "image/png" : "image/jpeg";
    canvas.toBlob(function (blob) {
      if (blob && editor.file === file && window.DataTransfer) {
        var name = file.name.replace(/\.[^.]+$/, "") + (type === "image/png" ? ".png" : ".jpg");
        var transfer = new DataTransfer();
        transfer.items.add(new File([blob], name, { type: type }));
        editor.input.files = transfer.files;
        editor.input.dataset.edited = size.w + "x" + size.h;
        if (editor.preview) {
          if (editor.previewUrl) URL.revokeObjectURL(editor.previewUrl);
          editor.previewUrl = URL.createObjectURL(blob);
          editor.preview.src = editor.previewUrl; // the photo as it will be sent
        }
      }
      var resolve = editor.resolvePending;
      editor.pending = null;
      if (resolve) resolve();
    }, type, 0.92);
  };

  Editor.prototype.open = function (file) {
    var editor = this;
    this.close();
    if (!window.createImageBitmap || !/^image\/(jpeg|png|webp)$/.test(file.type)) return;
    createImageBitmap(file).then(function (bitmap) {
      editor.file = file;
      editor.bitmap = bitmap;
      editor.reset();
      editor.mount.hidden = false;
      editor.show(false);
      editor.draw();
    }, function () { /* a picture the browser cannot draw: sent as it is */ });
  };

  Editor.prototype.show = function (open) {
    // The editor in place of the preview while it is open; "Done" shows the photo as it will be sent.
    this.root.hidden = !open;
    this.opener.hidden = open;
    this.opener.setAttribute("aria-expanded", open ? "true" : "false");
    var field = this.mount.closest(".field");
    if (field) field.classList.toggle("editing", open);
  };

  Editor.prototype.close = function () {
    this.file = null;
    if (this.bitmap && this.bitmap.close) this.bitmap.close();
    this.bitmap = null;
    this.mount.hidden = true;
    this.show(false);
    delete this.input.dataset.edited;
  };

  Editor.prototype.move = function (dx, dy) {
    var t = this.turned(), frame = this.frame();
    this.cx = (frame.x + frame.w / 2 + dx * t.w) / t.w;
    this.cy = (frame.y + frame.h / 2 + dy * t.h) / t.h;
    this.changed();
  };

  Editor.prototype.bind = function () {
    var editor = this;
    this.input.addEventListener("change", function () {
      var file = editor.input.files && editor.input.files[0];
      if (file) editor.open(file); else editor.close();
    });
    this.root.querySelectorAll("[data-pe-rotate]").forEach(function (button) {
      button.addEventListener("click", function () {
        editor.turns = (editor.turns + Number(button.dataset.peRotate) + 4) % 4;
        editor.changed();
      });
    });
    this.root.querySelectorAll("[data-pe-shape]").forEach(function (button) {
      button.addEventListener("click", function () {
        editor.mode = button.dataset.peShape;
        editor.changed();
      });
    });
    this.sliders.size.addEventListener("input", function () { editor.size = editor.sliders.size.value / 100; editor.changed(); });
    this.sliders.width.addEventListener("input", function () { editor.fw = editor.sliders.width.value / 100; editor.changed(); });
    this.sliders.height.addEventListener("input", function () { editor.fh = editor.sliders.height.value / 100; editor.changed(); });
    this.opener.addEventListener("click", function () {
      editor.show(true);
      editor.draw();
      editor.stage.focus();
    });
    this.root.querySelector("[data-pe-done]").addEventListener("click", function () {
      editor.show(false);
      editor.opener.focus();
    });
    this.root.querySelector("[data-pe-reset]").addEventListener("click", function () { editor.reset(); editor.changed(); });
    this.stage.addEventListener("keydown", function (event) {
      var moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (!(event.key in moves) || editor.mode === "whole" || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      var step = event.shiftKey ? BIG_STEP : STEP;
      editor.move(moves[event.key][0] * step, moves[event.key][1] * step);
    });
    this.canvas.addEventListener("pointerdown", function (event) {
      if (editor.mode === "whole") return;
      editor.drag = { x: event.clientX, y: event.clientY };
      editor.canvas.setPointerCapture(event.pointerId);
    });
    this.canvas.addEventListener("pointermove", function (event) {
      if (!editor.drag) return;
      var box = editor.canvas.getBoundingClientRect();
      var dx = (event.clientX - editor.drag.x) / box.width, dy = (event.clientY - editor.drag.y) / box.height;
      editor.drag = { x: event.clientX, y: event.clientY };
      editor.move(dx, dy);
    });
    var stop = function () { editor.drag = null; };
    this.canvas.addEventListener("pointerup", stop);
    this.canvas.addEventListener("pointercancel", stop);
  };

  onReady(function () {
    var template = document.querySelector("template[data-photo-edit-template]");
    if (!template || !window.HTMLCanvasElement || !window.DataTransfer) return;
    document.querySelectorAll("[data-photo-edit-for]").forEach(function (mount) {
      var input = document.getElementById(mount.dataset.photoEditFor);
      if (input && input.type === "file") new Editor(mount, input, template);
    });
  });
})();
