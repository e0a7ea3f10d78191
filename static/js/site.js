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
      // The page's own "Choose a photo" face over the browser's file box, in the page's language
      // (the browser would label its box in its own); the input stays on top to take clicks, drops and focus.
      var pick = document.querySelector('[data-file-pick-for="' + input.id + '"]');
      var name = pick && pick.querySelector("[data-file-name]");
      var drop = input.closest(".file-drop");
      if (pick && drop) {
        pick.hidden = false;
        drop.classList.add("picker");
        input.addEventListener("dragenter", function () { drop.classList.add("dragover"); });
        ["dragleave", "drop"].forEach(function (type) {
          input.addEventListener(type, function () { drop.classList.remove("dragover"); });
        });
      }
      input.addEventListener("change", function () {
        var file = input.files && input.files[0];
        if (name) name.textContent = file ? file.name : name.dataset.none;
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
          // The photo editor (photo-edit.js) may have put its crop in place meanwhile: it stays.
          if (smaller === file || !window.DataTransfer || input.files[0] !== file) return;
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

  // Work a submit must wait for (a photo being made smaller, a crop being drawn): photo-edit.js adds its own.
  window.comfyweb = window.comfyweb || {};
  window.comfyweb.beforeSubmit = function (promise) {
    pendingDownscales.add(promise);
    promise.then(function () { pendingDownscales.delete(promise); }, function () { pendingDownscales.delete(promise); });
  };

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

  function fill(pattern, value) {
    return String(pattern || "%s").replace("%s", value);
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
      if (name.indexOf(rules[i][0]) !== -1) return words[rules[i][1]] || words.working || "";
    }
    return words.working || "";
  }

  function paintingLine(job, t) {
    // As campaigns.phases.progress_line: never a bare 0 % before the backend names a node.
    var current = job.current;
    if (!current) return (phases(t).words || {}).preparing + "…";
    var word = phaseWord(current.class_type, t);
    return current.max > 1 ? word + " · " + current.value + "/" + current.max : word + "…";
  }

  // What each card shows between updates: its place in line and when its wait should end.
  function state(card) {
    if (!card.comfywebState) card.comfywebState = {};
    return card.comfywebState;
  }

  function waitingLine(card, t) {
    // As campaigns.cards.status_line for a job in line; the wait counts down between updates.
    var st = state(card);
    if (st.left) return t.waitingForGpu;  // it left the line: a GPU is about to take it
    if (!st.place) return t.inLine;
    var text = fill(t.place, st.place);
    var left = st.deadline ? Math.ceil((st.deadline - Date.now()) / 1000) : 0;
    return left >= 1 ? text + " · " + fill(t.estimate, left) : text;
  }

  function statusText(card, job, t) {
    if (job.stage === "in_line") return waitingLine(card, t);
    if (job.stage === "waiting_for_gpu") return t.waitingForGpu;
    if (job.stage === "painting") return paintingLine(job, t);
    return t[job.status] || t.failed;
  }

  function setPlace(card, entry) {
    var st = state(card);
    st.place = entry.place;
    st.left = entry.place === null;
    st.deadline = entry.wait ? Date.now() + entry.wait * 1000 : null;
  }

  var placesAt = 0; // when the queue was read for the places the page shows: an older reading never wins
  function applyPlaces(job) {
    // One reading of the queue gives the places of all the visitor's waiting jobs: shown together, so no two
    // cards ever say the same place (each card's own socket would bring its new place at its own moment).
    if (job.places_at === null || job.places_at === undefined || job.places_at < placesAt) return false;
    placesAt = job.places_at;
    var places = job.places || {};
    document.querySelectorAll('[data-job-id][data-stage="in_line"]').forEach(function (card) {
      // A card this reading does not name has left the line (a GPU took it; its own update is on its way):
      // it must not keep a place that another card now holds.
      var id = card.dataset.jobId;
      setPlace(card, places[id] || { place: null, wait: null });
      if (id !== job.id) card.querySelector("[data-status-text]").textContent = waitingLine(card, strings());
    });
    return true;
  }

  var announced = {};
  function announce(card, job, t) {
    // One small polite region says when a job changes stage (in line → waiting for a GPU → painting → done).
    var before = job.id in announced ? announced[job.id] : card.dataset.stage;
    announced[job.id] = job.stage;
    if (before === job.stage) return;
    var region = document.querySelector("[data-announcer]");
    if (!region) return;
    var words = phases(t).words || {};
    var text = job.stage === "in_line" ? t.inLine : job.stage === "waiting_for_gpu" ? t.waitingForGpu
      : job.stage === "painting" ? words.painting : t[job.status] || t.failed;
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

  function swapCard(card) {
    // A job that reached an end gets its card drawn again by the server (campaigns/_job.html): its images,
    // downloads and "try again" come from the one template, never from markup written here.
    if (card.dataset.swapping) return;
    card.dataset.swapping = "1";
    var here = location.pathname + location.search;
    var section = card.closest("[data-results]");
    var on = section && section.dataset.cardsOn ? "&on=" + encodeURIComponent(section.dataset.cardsOn) : "";
    fetch(card.dataset.cardUrl + "?next=" + encodeURIComponent(here) + on, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var holder = document.createElement("template");
        holder.innerHTML = html;
        var fresh = holder.content.querySelector("[data-job-id]");
        if (!fresh || !card.parentNode) return;
        var hadFocus = card.contains(document.activeElement);
        card.replaceWith(fresh);
        initOnce(fresh);
        showTakeaway();
        if (hadFocus) {
          var target = fresh.querySelector("a[href], button");
          if (target) target.focus();
        }
        updateBatchNow();
      })
      .catch(function () { delete card.dataset.swapping; }); // the line says how it ended; a reload shows the rest
  }

  function render(card, job) {
    var t = strings();
    var wasFinal = FINAL[card.dataset.status], held = +(card.dataset.held || 0);
    announce(card, job, t);
    card.className = "job job-" + job.status;
    card.dataset.status = job.status;
    card.dataset.stage = job.stage;
    if (job.stage === "in_line" && !applyPlaces(job) && state(card).place === undefined) {
      setPlace(card, { place: job.queue_position, wait: job.estimate_seconds });
    }
    var pct = Math.round(job.percent || 0);
    var bar = card.querySelector(".bar");
    if (bar) { bar.value = pct; bar.setAttribute("aria-valuenow", pct); bar.textContent = pct + "%"; }
    card.querySelector("[data-status-text]").textContent = statusText(card, job, t);
    // Drawn again when the job ends, and when an operator releases (or removes) an image it withheld.
    if (FINAL[job.status] && (!wasFinal || (job.withheld || 0) !== held)) swapCard(card);
    updateBatchNow();
  }

  function showTakeaway() {
    // "Download all" and "share all" of a batch appear once one of its images is done.
    var takeaway = document.querySelector("[data-takeaway]");
    if (takeaway && document.querySelector('[data-results] [data-job-id][data-status="succeeded"] [data-download]')) {
      takeaway.hidden = false;
    }
  }

  function initCopy() {
    // "Copy link" beside a share link (without script the link's box can still be selected and copied).
    document.querySelectorAll("[data-copy-for]").forEach(function (button) {
      var field = document.getElementById(button.dataset.copyFor);
      var status = document.querySelector("[data-copy-status]");
      if (!field) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var say = function (text) { if (status) status.textContent = text; };
        var done = function () { say(button.dataset.copied); };
        // The link stays selected, so a browser that refuses both ways still copies with the keyboard.
        var refused = function () { field.select(); say(button.dataset.copyRefused); };
        field.select();
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(field.value).then(done, function () {
            if (document.execCommand("copy")) done(); else refused();
          });
        } else if (document.execCommand("copy")) {
          done();
        } else {
          refused();
        }
      });
    });
  }

  function updateBatchNow() {
    // Above a batch: which image is being painted now, how many wait, how many are done.
    var line = document.querySelector("[data-batch-now]");
    if (!line) return;
    var t = strings(), painting = [], waiting = 0, done = 0;
    document.querySelectorAll("[data-results] [data-job-id]").forEach(function (card) {
      var stage = card.dataset.stage;
      if (stage === "painting") painting.push(card.dataset.label || "");
      else if (stage === "in_line" || stage === "waiting_for_gpu") waiting += 1;
      else if (stage === "succeeded") done += 1;
    });
    var parts = [];
    if (painting.length) parts.push(fill(t.nowPainting, painting.join(", ")));
    if (waiting) parts.push(fill(t.nowWaiting, waiting));
    if (done && (painting.length || waiting)) parts.push(fill(t.nowDone, done));
    line.textContent = parts.join(" · ");
    line.hidden = !(painting.length || waiting);
  }

  function tickWaits() {
    // "about 8 s" counts down between the server's updates (they come when the line moves).
    var t = strings();
    document.querySelectorAll('[data-job-id][data-stage="in_line"]').forEach(function (card) {
      if (state(card).deadline) card.querySelector("[data-status-text]").textContent = waitingLine(card, t);
    });
  }

  var FINAL = { succeeded: 1, failed: 1, cancelled: 1 };

  function watched(card) {
    // A job is followed until its end, and after it while an image of it waits for an operator's review.
    return !FINAL[card.dataset.status] || +(card.dataset.held || 0) > 0;
  }

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
    if (!watched(card)) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + prefix + card.dataset.jobId + "/");
    var heard = null; // {stream, seq} of the last numbered update
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      var current = document.querySelector('[data-job-id="' + card.dataset.jobId + '"]') || card;
      if (frame && frame.type === "preview") { showPreview(current, frame.url || frame.image); return; }
      if (frame && frame.type === "job" && frame.job) {
        attempt = 0;
        heard = askOnGap(socket, heard, frame);
        render(current, frame.job);
        if (FINAL[frame.job.status] && !frame.job.withheld) socket.close();
      }
    };
    socket.onclose = function () {
      card = document.querySelector('[data-job-id="' + card.dataset.jobId + '"]') || card;
      if (!watched(card)) return;
      var delay = Math.min(10000, 500 * Math.pow(2, attempt || 0));
      setTimeout(function () { follow(card, prefix, (attempt || 0) + 1); }, delay);
    };
  }

  function initJobs() {
    var results = document.querySelectorAll("[data-results]");
    results.forEach(function (section) {
      section.querySelectorAll("[data-job-id]").forEach(function (card) {
        if (card.dataset.place) {  // as drawn: the wait counts down from the moment the page came
          setPlace(card, { place: +card.dataset.place, wait: +(card.dataset.wait || 0) });
        }
        follow(card, section.dataset.wsPrefix, 0);
      });
    });
    if (results.length) {
      updateBatchNow();
      setInterval(tickWaits, 1000);
    }
  }

  function initOnce(scope) {
    // "Try again", "Cancel", "Cancel them all": one press sends the form; the next ones do nothing.
    scope.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.sent) { event.preventDefault(); return; }
        form.dataset.sent = "1";
        form.querySelectorAll('button[type="submit"]').forEach(function (button) { button.disabled = true; });
      });
    });
  }

  function initErrorSummary() {
    // A refused form: focus goes to the list of what to fix; each entry takes the visitor to its field.
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) return;
    summary.focus();
    summary.querySelectorAll("a[data-error-link]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
        if (!target) return;
        event.preventDefault();
        (target.closest(".field") || target).scrollIntoView({ block: "start" });
        target.focus({ preventScroll: true });
      });
    });
  }

  onReady(function () {
    initRanges();
    initUploads();
    initKeptPhotos();
    initSubmit();
    initErrorSummary();
    initOnce(document);
    initJobs();
    initCopy();
  });
})();
