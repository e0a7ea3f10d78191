/* comfyweb: progressive enhancement only; every page works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var MAX_SIDE = 2048; // photos larger than this are downscaled in the browser before upload
  var pendingDownscales = new Set(); // downscales still running; a submit waits for them

  function onReady(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  function initRanges() {
    document.querySelectorAll('input[type="range"]').forEach(function (input) {
      var out = document.querySelector('output[for="' + input.id + '"]');
      if (!out) return;
      var show = function () { out.textContent = input.value; };
      input.addEventListener("input", show);
      show();
    });
    // A number with bounds: the typed entry is the form's field, the slider (shown only with JS) moves it.
    document.querySelectorAll("input[data-slider-for]").forEach(function (slider) {
      var box = document.getElementById(slider.dataset.sliderFor);
      if (!box) return;
      slider.hidden = false;
      slider.addEventListener("input", function () { box.value = slider.value; });
      box.addEventListener("input", function () { if (box.value !== "") slider.value = box.value; });
    });
  }

  function downscale(file) {
    // Resolve to a smaller JPEG File when the image is huge, or to the original file otherwise.
    return new Promise(function (resolve) {
      if (!/^image\/(jpeg|png|webp)$/.test(file.type) || !window.createImageBitmap) return resolve(file);
      createImageBitmap(file).then(function (bitmap) {
        var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
        if (scale >= 1) { bitmap.close && bitmap.close(); return resolve(file); }
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(bitmap.width * scale);
        canvas.height = Math.round(bitmap.height * scale);
        canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        canvas.toBlob(function (blob) {
          if (!blob) return resolve(file);
          var name = file.name.replace(/\.[^.]+$/, "") + ".jpg";
          resolve(new File([blob], name, { type: "image/jpeg" }));
        }, "image/jpeg", 0.9);
      }, function () { resolve(file); });
    });
  }

  function initUploads() {
    document.querySelectorAll('input[type="file"]').forEach(function (input) {
      var preview = document.querySelector('img[data-preview-for="' + input.id + '"]');
      input.addEventListener("change", function () {
        var file = input.files && input.files[0];
        var kept = document.querySelector('input[data-held-for="' + input.id + '"]');
        if (!file) { if (preview && !(kept && kept.checked)) preview.hidden = true; return; }
        if (kept) kept.checked = false; // the new file replaces the photo kept from the last try
        if (preview) { preview.src = URL.createObjectURL(file); preview.hidden = false; }
        // Uploading a photo replaces a gallery choice for the same parameter.
        var field = input.closest(".field");
        if (field && field.parentElement) {
          field.parentElement.querySelectorAll('input[type="radio"][name="' + input.name.replace(/__upload$/, "") + '"]').forEach(function (r) { r.checked = false; });
        }
        var shrinking = downscale(file).then(function (smaller) {
          if (smaller === file || !window.DataTransfer) return;
          var transfer = new DataTransfer();
          transfer.items.add(smaller);
          input.files = transfer.files;
        });
        pendingDownscales.add(shrinking);
        shrinking.then(function () { pendingDownscales.delete(shrinking); });
      });
    });
  }

  function initKeptPhotos() {
    // A gallery pick replaces a kept upload for the same parameter; unticking a kept photo hides it.
    document.querySelectorAll("input[data-held-for]").forEach(function (kept) {
      var preview = document.querySelector('img[data-preview-for="' + kept.dataset.heldFor + '"]');
      var fileInput = document.getElementById(kept.dataset.heldFor);
      kept.addEventListener("change", function () {
        var hasFile = fileInput && fileInput.files && fileInput.files.length;
        if (preview && !hasFile) preview.hidden = !kept.checked;
      });
      if (!fileInput || !/__upload$/.test(fileInput.name)) return;
      var gallery = fileInput.name.replace(/__upload$/, "");
      document.querySelectorAll('input[type="radio"][name="' + gallery + '"]').forEach(function (radio) {
        radio.addEventListener("change", function () {
          if (!radio.checked) return;
          kept.checked = false;
          if (preview && !(fileInput.files && fileInput.files.length)) preview.hidden = true;
        });
      });
    });
  }

  function initSubmit() {
    document.querySelectorAll("form[data-job-form]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var button = form.querySelector("[data-submit]");
        var note = form.querySelector("[data-submitting]");
        if (button) button.disabled = true;
        if (note) note.hidden = false;
        if (form.target && form.target !== "_self") {
          // The answer opens elsewhere (the admin preview's test run, in a new tab): this page stays usable.
          setTimeout(function () {
            if (button) button.disabled = false;
            if (note) note.hidden = true;
          }, 1500);
        }
        if (pendingDownscales.size) {
          // A photo is still being made smaller: send the form once it is, never the full-size file.
          event.preventDefault();
          Promise.all(Array.from(pendingDownscales)).then(function () { form.submit(); });
        }
      });
    });
  }

  function strings() {
    var el = document.getElementById("i18n-strings");
    return el ? el.dataset : {};
  }

  var phaseData = null;
  function phases(t) {
    if (phaseData === null) {
      try { phaseData = JSON.parse(t.phases || "{}"); } catch (e) { phaseData = {}; }
    }
    return phaseData;
  }

  function phaseWord(classType, t) {
    // The visitor's word for the running node (rules and words come from campaigns/phases.py).
    var data = phases(t), rules = data.rules || [], words = data.words || {};
    var name = String(classType || "");
    for (var i = 0; i < rules.length; i++) {
      if (name.indexOf(rules[i][0]) !== -1) return words[rules[i][1]] || t.running;
    }
    return words.working || t.running;
  }

  function statusText(job, t) {
    if (job.status === "queued" || job.status === "dispatched") {
      var text = job.queue_position ? (t.position || "%s").replace("%s", job.queue_position) : t.queued;
      if (job.estimate_seconds) text += " · " + (t.estimate || "%s").replace("%s", job.estimate_seconds);
      return text;
    }
    if (job.status === "running") {
      var current = job.current;
      if (!current) return phaseWord("", t) + " · " + Math.round(job.percent || 0) + "%";
      var word = phaseWord(current.class_type, t);
      return current.max > 1 ? word + " · " + current.value + "/" + current.max : word + "…";
    }
    if (job.status === "succeeded") return t.done;
    if (job.status === "cancelled") return t.cancelled;
    return t.failed;
  }

  var announced = {};
  function announce(card, job, t) {
    // One small polite region says when a job changes state (waiting → running → done), never each percent.
    var norm = function (status) { return status === "dispatched" ? "queued" : status; };
    var state = norm(job.status);
    // Before the first update, the state the page was rendered with (it already says so).
    var before = job.id in announced ? announced[job.id] : norm(card.dataset.status);
    announced[job.id] = state;
    if (before === state) return;
    var region = document.querySelector("[data-announcer]");
    if (!region) return;
    var text = state === "queued" ? t.queued : state === "running" ? t.running : statusText(job, t);
    region.textContent = (card.dataset.label ? card.dataset.label + ": " : "") + text;
  }

  function showPreview(card, src) {
    // The picture forming (live previews): shown in place of the placeholder until the result replaces it.
    var preview = card.querySelector("img[data-preview]");
    if (!preview || FINAL[card.dataset.status] || !src) return;
    preview.src = src;
    preview.hidden = false;
    var placeholder = card.querySelector("[data-placeholder]");
    if (placeholder) placeholder.hidden = true;
  }

  var errorData = null;
  function errorText(job, t) {
    // In the page's language: updates arrive in the language of the worker that sent them.
    if (!job.error) return "";
    if (errorData === null) {
      try { errorData = JSON.parse(t.errors || "{}"); } catch (e) { errorData = {}; }
    }
    return errorData[job.error.code] || job.error.message || t.failed;
  }

  function render(card, job) {
    var t = strings();
    announce(card, job, t);
    card.className = "job job-" + job.status;
    card.dataset.status = job.status;
    var pct = Math.round(job.percent || 0);
    var bar = card.querySelector(".bar");
    if (bar) { bar.value = pct; bar.setAttribute("aria-valuenow", pct); bar.textContent = pct + "%"; }
    card.querySelector("[data-status-text]").textContent = statusText(job, t);
    var err = card.querySelector("[data-error]");
    if (err) { err.hidden = job.status !== "failed"; err.textContent = errorText(job, t); }
    if (job.status === "succeeded" && job.outputs && job.outputs.length && !card.querySelector("img[data-output]")) {
      var media = card.querySelector(".job-media");
      var actions = card.querySelector("[data-actions]");
      media.querySelectorAll("a, [data-placeholder], img[data-preview]").forEach(function (el) {
        if (el.matches("img[data-preview]")) { el.hidden = true; el.removeAttribute("src"); } else el.remove();
      });
      actions.textContent = "";
      job.outputs.forEach(function (out, i) {
        var n = i + 1;
        var download = "/jobs/" + encodeURIComponent(job.id) + "/images/" + n + "/download/";
        var link = document.createElement("a");
        link.href = out.url;
        link.dataset.lightboxItem = "";
        link.dataset.downloadUrl = download;
        link.setAttribute("aria-label", (t.image || "") + " " + n + " · " + (t.viewLarger || ""));
        var img = document.createElement("img");
        img.src = out.url; img.alt = (t.image || "") + " " + n; img.dataset.output = "";
        if (out.width) { img.width = out.width; img.height = out.height; }
        link.appendChild(img);
        media.appendChild(link);
        var dl = document.createElement("a");
        dl.className = "btn-primary"; dl.href = download;
        dl.setAttribute("download", ""); dl.dataset.download = "";
        dl.textContent = t.download + (job.outputs.length > 1 ? " " + n : "");
        actions.appendChild(dl);
      });
    }
    var retryForm = card.querySelector("[data-retry-form]");
    if (retryForm) retryForm.hidden = !(job.status === "failed" || job.status === "cancelled");
    var cancelForm = card.querySelector("[data-cancel-form]");
    if (cancelForm) cancelForm.hidden = !!FINAL[job.status];
  }

  var FINAL = { succeeded: 1, failed: 1, cancelled: 1 };

  function askOnGap(socket, heard, frame) {
    // Updates are numbered by their sender: a number skipped means one was lost on the way (a Redis blink),
    // so ask for the stored state. A frame without a number (a snapshot) starts the count again.
    if (typeof frame.seq !== "number") return null;
    if (heard && heard.stream === frame.stream && frame.seq > heard.seq + 1) {
      socket.send(JSON.stringify({ type: "snapshot" }));
    }
    return { stream: frame.stream, seq: frame.seq };
  }

  function follow(card, prefix, attempt) {
    if (FINAL[card.dataset.status]) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + prefix + card.dataset.jobId + "/");
    var heard = null; // {stream, seq} of the last numbered update
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && frame.type === "preview") { showPreview(card, frame.url || frame.image); return; }
      if (frame && frame.type === "job" && frame.job) {
        attempt = 0;
        heard = askOnGap(socket, heard, frame);
        render(card, frame.job);
        if (FINAL[frame.job.status]) socket.close();
      }
    };
    socket.onclose = function () {
      if (FINAL[card.dataset.status]) return;
      var delay = Math.min(10000, 500 * Math.pow(2, attempt || 0));
      setTimeout(function () { follow(card, prefix, (attempt || 0) + 1); }, delay);
    };
  }

  function initJobs() {
    document.querySelectorAll("[data-results]").forEach(function (results) {
      var prefix = results.dataset.wsPrefix || "/ws/jobs/";
      results.querySelectorAll("[data-job-id]").forEach(function (card) { follow(card, prefix, 0); });
    });
  }

  onReady(function () {
    initRanges();
    initUploads();
    initKeptPhotos();
    initSubmit();
    initJobs();
  });
})();
