/* The template editor of the admin (comfyweb.catalog.editor): the field cards and the params JSON kept in
   step both ways, default values written into the prompt, a live preview of the visitor page, and the test
   runs started from it followed beside the editor. Steps hold their cards in a list of their own, nested
   as the params' groups are; cards move by drag (SortableJS, when loaded) or by their up/down buttons.
   Plain script, no framework; the page works without it (the JSON box and "Preview unsaved changes"). */
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  function parse(text, fallback) {
    try { return JSON.parse(text); } catch (e) { return fallback; }
  }

  function isLink(value) {
    return Array.isArray(value) && value.length === 2 && typeof value[1] === "number";
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function pictureLabel(url) {
    var path = String(url).split(/[?#]/)[0];
    var name = path.substring(path.lastIndexOf("/") + 1);
    try { name = decodeURIComponent(name); } catch (e) { /* keep it as it is */ }
    var dot = name.lastIndexOf(".");
    return (dot > 0 ? name.substring(0, dot) : name) || String(url);
  }

  onReady(function () {
    var studio = document.querySelector("[data-studio]");
    if (!studio) return;
    var form = studio.closest("form");
    var editor = studio.querySelector("[data-editor]");
    var paramsBox = studio.querySelector("[data-params-json]");
    var promptBox = form ? form.querySelector('textarea[name="prompt"]') : null;
    var statusLine = studio.querySelector("[data-preview-status]");
    var text = studio.dataset;

    function say(message) { if (statusLine && message) statusLine.textContent = message; }

    function topList() { return editor.querySelector("[data-items]"); }

    // The cards of one list (the editor's own, or a step's), not those of the steps inside it.
    function items(list) {
      return Array.prototype.filter.call(list ? list.children : [], function (el) { return el.matches("[data-item]"); });
    }

    function ownList(step) { return step.querySelector(":scope > [data-items]"); }

    function prop(card, name) { return card.querySelector('[data-prop="' + name + '"]'); }

    function stepTitle(step) { return step.querySelector(':scope > .studio-step-head [data-prop="title"]'); }

    // A value typed in a card: JSON (numbers, true/false) where the field's values are, else text.
    function typed(card, raw) {
      if (card.hasAttribute("data-json-values")) {
        var value = parse(String(raw).trim(), undefined);
        if (value !== undefined && value !== null && typeof value !== "object") return value;
      }
      return raw;
    }

    function numberOrNull(raw) {
      if (String(raw).trim() === "") return null;
      var number = Number(raw);
      return isFinite(number) ? number : null;
    }

    function readOptions(card, panel, picture) {
      var values = [], labels = [], custom = false, chosen;
      card.querySelectorAll("[data-options] > [data-option]").forEach(function (row) {
        var raw = row.querySelector("[data-option-value]").value;
        var value = picture ? raw.trim() : typed(card, raw);
        if (picture && !value) return;
        var label = row.querySelector("[data-option-label]").value.trim();
        values.push(value);
        labels.push(label || (picture ? pictureLabel(value) : String(value)));
        if (label) custom = true;
        var radio = row.querySelector("[data-option-default]");
        if (radio && radio.checked) chosen = { value: value };
      });
      panel.options = values;
      if (custom) panel.labels = labels; else delete panel.labels;
      return chosen;
    }

    // One card as a panel, whether it is used, and the default value it sets in the prompt.
    function readCard(card) {
      var panel = parse(card.dataset.panel, {});
      var title = prop(card, "title").value.trim();
      if (title) panel.title = title; else delete panel.title;
      var description = prop(card, "description");
      if (description && description.value.trim()) panel.description = description.value.trim();
      else delete panel.description;
      var hidden = prop(card, "hidden");
      if (hidden && hidden.checked) panel.hidden = true; else delete panel.hidden;
      var result = { panel: panel, exposed: prop(card, "exposed").checked, hasDefault: false };
      var box = card.querySelector("[data-default]");
      if (panel.type === "number") {
        ["min", "max", "step"].forEach(function (bound) {
          var number = numberOrNull(prop(card, bound).value);
          if (number === null) delete panel[bound]; else panel[bound] = number;
        });
        var number = box ? numberOrNull(box.value) : null;
        if (number !== null) { result.hasDefault = true; result.value = number; }
      } else if (panel.type === "select") {
        var source = card.querySelector("[data-source]");
        if (source) {
          panel.options = source.dataset.source;
          delete panel.labels;
          if (box) { result.hasDefault = true; result.value = typed(card, box.value); }
        } else {
          var chosen = readOptions(card, panel, false);
          if (chosen) { result.hasDefault = true; result.value = chosen.value; }
        }
      } else if (panel.type === "image") {
        var mode = card.querySelector('[data-prop="mode"]:checked');
        mode = mode ? mode.value : "upload";
        var gallery = card.querySelector("[data-gallery]");
        if (gallery) gallery.hidden = mode === "upload";
        if (mode === "upload") {
          delete panel.options; delete panel.labels; delete panel.upload;
        } else {
          readOptions(card, panel, true);
          if (mode === "gallery") panel.upload = false; else delete panel.upload;
        }
        if (box) { result.hasDefault = true; result.value = box.value.trim(); }
      } else if (box) {
        result.hasDefault = true;
        result.value = box.value;
      }
      return result;
    }

    function setPromptValue(prompt, panel, value) {
      var node = prompt && prompt[String(panel.id)];
      var inputs = node && node.inputs;
      if (!inputs || !(panel.key in inputs) || isLink(inputs[panel.key])) return false;
      if (JSON.stringify(inputs[panel.key]) === JSON.stringify(value)) return false;
      inputs[panel.key] = value;
      return true;
    }

    var lastParams = paramsBox.value;
    var lastPrompt = promptBox ? promptBox.value : "";

    // One list of cards as params: a step is a group of its own cards (titled or not, even while it is still
    // empty, so a step just added keeps its title through a redraw); unused fields are left out.
    function readList(list, prompt, changes) {
      var params = [];
      items(list).forEach(function (item) {
        if (item.dataset.item === "step") {
          var group = parse(item.dataset.panel, {});
          var title = stepTitle(item).value.trim();
          group.type = "group";
          if (title) group.title = title; else delete group.title;
          group.children = readList(ownList(item), prompt, changes);
          params.push(group);
          return;
        }
        var read = readCard(item);
        item.classList.toggle("is-unused", !read.exposed);
        if (!read.exposed) return;
        params.push(read.panel);
        if (prompt && read.hasDefault && setPromptValue(prompt, read.panel, read.value)) changes.prompt = true;
      });
      return params;
    }

    function markEmptyLists() {
      editor.querySelectorAll("[data-items]").forEach(function (list) {
        list.classList.toggle("is-empty", items(list).length === 0);
      });
    }

    // The cards, read into the params JSON (and their defaults into the prompt).
    function collect() {
      var prompt = promptBox ? parse(promptBox.value, null) : null;
      var changes = { prompt: false };
      var params = readList(topList(), prompt, changes);
      markEmptyLists();
      lastParams = paramsBox.value = JSON.stringify(params, null, 2);
      if (changes.prompt) lastPrompt = promptBox.value = JSON.stringify(prompt, null, 2);
      schedulePreview();
    }

    // A proposal being used puts the value it needs into its default box (an image field starts empty, a
    // seed at -1); one no longer used gives the prompt its own value back.
    function exposedChanged(card, used) {
      var box = card.querySelector("[data-default]");
      if (used && card.hasAttribute("data-prompt-value") && box) {
        var wanted = parse(card.dataset.promptValue, "");
        box.value = typeof wanted === "string" ? wanted : JSON.stringify(wanted);
      } else if (!used && promptBox && card.hasAttribute("data-original-value")) {
        var prompt = parse(promptBox.value, null);
        var panel = parse(card.dataset.panel, {});
        if (prompt && setPromptValue(prompt, panel, parse(card.dataset.originalValue, null))) {
          lastPrompt = promptBox.value = JSON.stringify(prompt, null, 2);
        }
      }
    }

    // The server draws the cards again after a change of structure (or of the JSON typed by hand).
    function redraw(operation) {
      if (!studio.dataset.editorUrl) return;
      var data = new FormData();
      var csrf = form.querySelector('input[name="csrfmiddlewaretoken"]');
      if (csrf) data.append("csrfmiddlewaretoken", csrf.value);
      data.append("prompt", promptBox ? promptBox.value : "{}");
      data.append("params", paramsBox.value);
      Object.keys(operation || {}).forEach(function (key) { data.append(key, operation[key]); });
      say(text.textDrawing);
      fetch(studio.dataset.editorUrl, { method: "POST", body: data, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (answer) {
          editor.innerHTML = answer.html;
          enableDragging();
          markEmptyLists();
          if (typeof answer.params === "string") lastParams = paramsBox.value = answer.params;
          if (promptBox && typeof answer.prompt === "string") lastPrompt = promptBox.value = answer.prompt;
          if (operation && operation.name) {
            var card = editor.querySelector('[data-item="field"][data-name="' + CSS.escape(operation.name) + '"]');
            if (card) prop(card, "title").focus();
          }
          schedulePreview();
        })
        .catch(function () { say(text.textFailed); });
    }

    function addRow(card) {
      var picture = parse(card.dataset.panel, {}).type === "image";
      var template = editor.querySelector(picture ? "[data-picture-template]" : "[data-option-template]");
      var row = template.content.firstElementChild.cloneNode(true);
      var radio = row.querySelector("[data-option-default]");
      if (radio) radio.name = "studio-default-" + card.dataset.uid;
      card.querySelector("[data-options]").appendChild(row);
      row.querySelector("[data-option-value]").focus();
    }

    // A new step goes after the last card in use; fields join it by drag, by their arrows, or when added.
    function addStep() {
      var list = topList();
      var step = editor.querySelector("[data-step-template]").content.firstElementChild.cloneNode(true);
      var used = items(list).filter(function (item) { return !item.classList.contains("is-unused"); });
      var last = used.length ? used[used.length - 1] : null;
      list.insertBefore(step, last ? last.nextElementSibling : list.firstElementChild);
      enableDragging();
      stepTitle(step).focus();
    }

    // The keyboard's way to move a card, one place at a time: into the step next to it, out of its step at
    // either end, else past its neighbour.
    function moveUp(item) {
      var before = item.previousElementSibling;
      if (before && before.dataset.item === "step") {
        ownList(before).appendChild(item);
      } else if (before) {
        item.parentNode.insertBefore(item, before);
      } else {
        var outer = item.parentNode.closest('[data-item="step"]');
        if (outer) outer.parentNode.insertBefore(item, outer);
      }
    }

    function moveDown(item) {
      var after = item.nextElementSibling;
      if (after && after.dataset.item === "step") {
        var inner = ownList(after);
        inner.insertBefore(item, inner.firstElementChild);
      } else if (after) {
        item.parentNode.insertBefore(after, item);
      } else {
        var outer = item.parentNode.closest('[data-item="step"]');
        if (outer) outer.parentNode.insertBefore(item, outer.nextElementSibling);
      }
    }

    // Removing a step keeps its cards, where the step was.
    function removeStep(step) {
      items(ownList(step)).forEach(function (child) { step.parentNode.insertBefore(child, step); });
      step.remove();
    }

    // Drag and drop between every list of cards (SortableJS): steps into steps, fields into and out of them.
    function enableDragging() {
      if (typeof window.Sortable === "undefined") return;
      editor.querySelectorAll("[data-items]").forEach(function (list) {
        if (window.Sortable.get(list)) return;
        window.Sortable.create(list, {
          group: "studio-cards",
          handle: ".studio-drag",
          draggable: "[data-item]",
          animation: 120,
          forceFallback: true, // pointer events, the same with a mouse, a pen or a finger
          fallbackOnBody: true,
          swapThreshold: 0.65,
          emptyInsertThreshold: 24,
          onEnd: function () { collect(); }
        });
      });
    }

    editor.addEventListener("click", function (event) {
      var button = event.target.closest("[data-action]");
      if (!button || !editor.contains(button)) return;
      var action = button.dataset.action;
      var item = button.closest("[data-item]");
      var card = button.closest('[data-item="field"]');
      if (action === "up" && item) {
        moveUp(item);
        button.focus();
      } else if (action === "down" && item) {
        moveDown(item);
        button.focus();
      } else if (action === "remove-step" && item) {
        removeStep(item);
      } else if (action === "add-step") {
        addStep();
      } else if (action === "add-option" && card) {
        addRow(card);
      } else if (action === "remove-option") {
        var row = button.closest("[data-option]");
        if (row) row.remove();
      } else if (action === "accept-all") {
        editor.querySelectorAll('[data-item="field"].is-unused').forEach(function (unused) {
          var box = prop(unused, "exposed");
          if (!box.checked) { box.checked = true; exposedChanged(unused, true); }
        });
      } else if (action === "add-input") {
        var chosen = editor.querySelector("[data-add-input]");
        if (!chosen || !chosen.value) return;
        collect();
        redraw({ operation: "add", name: chosen.value });
        return;
      } else if ((action === "list-options" || action === "use-source") && card) {
        collect();
        redraw({ operation: action, name: card.dataset.name });
        return;
      } else {
        return;
      }
      collect();
    });

    editor.addEventListener("change", function (event) {
      var target = event.target;
      var card = target.closest('[data-item="field"]');
      if (card && target.matches('[data-prop="type"]')) {
        var wasUsed = prop(card, "exposed").checked;
        prop(card, "exposed").checked = true;
        if (!wasUsed) exposedChanged(card, true);
        collect();
        redraw({ operation: "type", name: card.dataset.name, value: target.value });
        return;
      }
      if (card && target.matches('[data-prop="exposed"]')) exposedChanged(card, target.checked);
      collect();
    });

    // Enter in a card's box ends the typing; it does not save the whole form.
    editor.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target.matches("input[type=text], input[type=number]")) {
        event.preventDefault();
        collect();
      }
    });

    editor.addEventListener("input", debounce(function (event) {
      if (event.target.matches('[data-prop="type"], [data-prop="exposed"], [data-add-input]')) return;
      collect();
    }, 250));

    // The JSON boxes typed by hand: the cards follow once the JSON reads.
    var jsonTyped = debounce(function () {
      if (paramsBox.value === lastParams && (!promptBox || promptBox.value === lastPrompt)) return;
      var params = parse(paramsBox.value, undefined);
      var prompt = promptBox ? parse(promptBox.value, undefined) : {};
      if (params === undefined || prompt === undefined) { say(text.textBadJson); return; }
      lastParams = paramsBox.value;
      lastPrompt = promptBox ? promptBox.value : "";
      redraw({});
    }, 700);
    paramsBox.addEventListener("input", jsonTyped);
    if (promptBox) promptBox.addEventListener("input", jsonTyped);

    // ---- the live preview: the visitor page of what is being edited, in a frame beside the editor ----
    var holder = studio.querySelector("[data-preview-frame]");
    var frame = null;
    var scrollTop = 0;

    function ensureFrame() {
      if (frame) return frame;
      frame = document.createElement("iframe");
      frame.name = "studio-preview-" + Math.random().toString(36).slice(2);
      frame.title = text.textFrameTitle || "";
      frame.className = "studio-iframe";
      frame.addEventListener("load", function () {
        try { frame.contentWindow.scrollTo(0, scrollTop); } catch (e) { /* another page: leave it */ }
        catchTestRuns(frame);
        say(text.textReady);
      });
      holder.appendChild(frame);
      return frame;
    }

    function refreshPreview() {
      if (!studio.dataset.previewUrl || !form) return;
      ensureFrame();
      try { scrollTop = frame.contentWindow.scrollY || 0; } catch (e) { scrollTop = 0; }
      var post = document.createElement("form");
      post.method = "post";
      post.action = studio.dataset.previewUrl;
      post.target = frame.name;
      post.hidden = true;
      new FormData(form).forEach(function (value, key) {
        if (typeof value !== "string") return;
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = key;
        input.value = value;
        post.appendChild(input);
      });
      var inEditor = document.createElement("input");
      inEditor.type = "hidden";
      inEditor.name = "_studio";
      inEditor.value = "1";
      post.appendChild(inEditor);
      var language = studio.querySelector("[data-preview-language]");
      if (language) {
        var chosen = document.createElement("input");
        chosen.type = "hidden";
        chosen.name = "_language";
        chosen.value = language.value;
        post.appendChild(chosen);
      }
      document.body.appendChild(post);
      post.submit();
      setTimeout(function () { post.remove(); }, 0);
      say(text.textUpdating);
    }
    var schedulePreview = debounce(refreshPreview, 500);

    var languageChoice = studio.querySelector("[data-preview-language]");
    if (languageChoice) languageChoice.addEventListener("change", refreshPreview);

    // Texts outside the editor that visitors read (title, description, translations) refresh it too.
    form.addEventListener("input", function (event) {
      if (event.target === languageChoice) return;
      if (editor.contains(event.target) || event.target === paramsBox || event.target === promptBox) return;
      if (event.target.name) schedulePreview();
    });
    // ---- test runs: started from the preview's form, followed here over the job's WebSocket ----
    var runs = studio.querySelector("[data-test-runs]");
    var runList = runs ? runs.querySelector("[data-test-run-list]") : null;
    var runErrors = runs ? runs.querySelector("[data-test-run-errors]") : null;
    var runText = runs ? runs.dataset : {};
    var FINAL = { succeeded: true, failed: true, cancelled: true };

    function fill(template, values) {
      return String(template || "").replace(/%\((\w+)\)s/g, function (all, name) {
        return values[name] === undefined || values[name] === null ? "" : String(values[name]);
      });
    }

    function statusText(job) {
      if (job.status === "queued" || job.status === "dispatched") {
        return job.queue_position ? fill(runText.textPlace, { place: job.queue_position }) : runText.textQueued;
      }
      if (job.status === "running") return fill(runText.textRunning, { percent: Math.round(job.percent || 0) });
      if (job.status === "succeeded") return runText.textSucceeded;
      if (job.status === "failed") return fill(runText.textFailed, { error: (job.error && job.error.message) || job.error || "" });
      if (job.status === "cancelled") return runText.textCancelled;
      return job.status;
    }

    function showJob(row, job) {
      row.dataset.status = job.status;
      row.querySelector("[data-run-status]").textContent = statusText(job);
      var bar = row.querySelector("[data-run-progress]");
      bar.value = job.status === "succeeded" ? 100 : Math.max(0, Math.min(100, job.percent || 0));
      bar.hidden = !!FINAL[job.status] && job.status !== "succeeded";
      var pictures = row.querySelector("[data-run-images]");
      if (job.status === "succeeded" && !pictures.childElementCount) {
        (job.outputs || []).forEach(function (output, index) {
          var link = document.createElement("a");
          link.href = output.url;
          link.target = "_blank";
          link.rel = "noopener";
          var image = document.createElement("img");
          image.src = output.thumbnail_url || output.url;
          image.alt = fill(runText.textPicture, { n: index + 1 });
          link.appendChild(image);
          pictures.appendChild(link);
        });
      }
    }

    function follow(row, job, attempt) {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + job.socket);
      socket.addEventListener("message", function (event) {
        var message = parse(event.data, {});
        if (message.type === "job" && message.job) {
          showJob(row, message.job);
          if (FINAL[message.job.status]) socket.close();
        }
      });
      socket.addEventListener("close", function () {
        if (FINAL[row.dataset.status]) return;
        if (attempt < 5) setTimeout(function () { follow(row, job, attempt + 1); }, 1000 * (attempt + 1));
        else row.querySelector("[data-run-status]").textContent = runText.textLost;
      });
    }

    function startTestRun(testForm) {
      var data = new FormData(testForm);
      data.append("_inline", "1");
      var button = testForm.querySelector("[data-test-run]");
      if (button) button.disabled = true;
      runs.hidden = false;
      runErrors.hidden = true;
      say(runText.textStarting);
      fetch(testForm.action, { method: "POST", body: data, credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (answer) { return { ok: response.ok, answer: answer }; });
        })
        .then(function (result) {
          if (!result.ok) throw result.answer;
          result.answer.jobs.forEach(function (job) {
            var row = runs.querySelector("[data-test-run-template]").content.firstElementChild.cloneNode(true);
            row.dataset.jobId = job.id;
            row.querySelector("[data-run-page]").href = job.page;
            row.querySelector("[data-run-status]").textContent = runText.textQueued;
            runList.insertBefore(row, runList.firstElementChild);
            follow(row, job, 0);
          });
          say(runText.textStarted);
        })
        .catch(function (answer) {
          var errors = (answer && answer.errors) || [runText.textRunFailed];
          runErrors.textContent = errors.join(" ");
          runErrors.hidden = false;
          runErrors.focus();
        })
        .then(function () { if (button) button.disabled = false; });
    }

    // The preview's "Run a test" starts the run here, beside the editor, instead of opening a new tab.
    function catchTestRuns(previewFrame) {
      var doc;
      try { doc = previewFrame.contentDocument; } catch (e) { return; }
      if (!runs || !doc) return;
      var testForm = doc.querySelector("form[data-job-form]");
      if (!testForm || !testForm.querySelector("[data-test-run]")) return;
      testForm.removeAttribute("target");
      doc.addEventListener("submit", function (event) {
        if (event.target !== testForm) return;
        event.preventDefault();
        event.stopPropagation();
        startTestRun(testForm);
      }, true);
    }

    enableDragging();
    markEmptyLists();
    refreshPreview();
  });
})();
