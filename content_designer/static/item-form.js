// The item editing form, generated from the item type's JSON Schema (GET schemas/{type}).
// Every property of the schema gets a control (text, long text, list, card, yes/no ...); the
// item's required and everyday fields come first and the rest sit in an "Advanced" section, so
// a field another engineer adds to a schema appears here without any change to this file.
// Fields the schema does not know are kept as they are. Problems are shown next to their field.
"use strict";

const ItemForm = (() => {
  // Words for QnABot's short field names; a schema's own title/description wins.
  const LABELS = {
    qid: ["Item ID (qid)", "Unique, without spaces, e.g. Ferry.Schedule. Changing it renames the item."],
    q: ["Questions", "Ways users ask this. Several phrasings match better than one."],
    a: ["Answer", "Plain text: shown in chat and spoken by voice when there is no SSML."],
    passage: ["Passage", "Text the bot can answer from (and an LLM can summarise)."],
    t: ["Topic", "Follow-up questions prefer items of the topic of the last answer."],
    alt: ["Alternate answers", ""],
    markdown: ["Markdown answer", "Shown by web chat instead of the plain answer: **bold**, links, lists, images."],
    ssml: ["SSML answer", "Spoken by voice clients, e.g. <speak>Hello <break time='1s'/> there</speak>."],
    r: ["Response card", "A title, an image and buttons the user can tap."],
    title: ["Title", ""], subTitle: ["Subtitle", ""], imageUrl: ["Image URL", "https:// only."],
    buttons: ["Buttons", "Each button asks its value as the next question."],
    text: ["Text", ""], value: ["Value", ""],
    tags: ["Tags", ""],
    sa: ["Session attributes", "Set on the session when this item answers (name and value)."],
    l: ["Lambda hook", "Function name or ARN called to build the answer."],
    args: ["Lambda hook arguments", ""],
    next: ["Next item (qid)", "Chaining: the item that follows this one."],
    clientFilterValues: ["Client filter values", "Comma-separated: only clients sending one of these see the item."],
    enableQidIntent: ["Match through its own Lex intent", ""],
    kendraRedirectQueryText: ["Kendra redirect query", "Answer from Amazon Kendra with this query instead."],
    rp: ["Reprompt", "Said when the user does not answer."],
    refMarkdown: ["Source link (markdown)", "e.g. [Timetable](https://example.com/timetable)"],
    enableTranslate: ["Translate", ""],
  };
  const EVERYDAY = new Set(["qid", "q", "a", "passage", "t", "alt", "question", "answer", "questions"]);
  const LONG_TEXT = new Set(["a", "passage", "markdown", "ssml", "refMarkdown", "rp", "kendraRedirectQueryText"]);

  function label(key, schema) {
    const known = LABELS[key] || [];
    return [schema.title || known[0] || key, schema.description || known[1] || ""];
  }

  function typeOf(schema, value) {
    if (schema.const !== undefined) return "const";
    if (schema.enum) return "enum";
    if (schema.oneOf || schema.anyOf) {
      const options = schema.oneOf || schema.anyOf;
      const array = options.find((o) => o.type === "array");
      if (Array.isArray(value) && array) return {array};
      const first = options.find((o) => o.type && o.type !== "null") || {};
      return first.type === "array" ? {array: first} : (first.type || "string");
    }
    return Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : (schema.type || "string");
  }

  function isEmpty(value) {
    return value === undefined || value === null || value === "" ||
      (Array.isArray(value) && value.length === 0) ||
      (typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0);
  }

  /** A control for one schema node: {element, get(), fields: [{path, element}]} */
  function control(key, schema, value, path, required) {
    let kind = typeOf(schema, value);
    if (typeof kind === "object") return listControl(key, kind.array, value, path, required);
    if (kind === "array") return listControl(key, schema, value, path, required);
    if (kind === "object") return objectControl(key, schema, value, path);
    const [text, help] = label(key, schema);
    const id = `field-${path.replace(/[^A-Za-z0-9]+/g, "-")}`;
    let input;
    if (kind === "const") {
      return {element: null, get: () => schema.const, fields: []};
    } else if (kind === "boolean") {
      input = el("input", {type: "checkbox", id, "data-path": path});
      input.checked = Boolean(value);
      const wrapper = el("div", {class: "field checkbox", "data-field": path},
        el("label", {for: id}, input, " ", text), help ? el("div", {class: "help"}, help) : null,
        el("div", {class: "field-error", "aria-live": "polite"}));
      return {element: wrapper, get: () => (input.checked ? true : undefined), fields: [{path, element: wrapper}]};
    } else if (kind === "enum") {
      input = el("select", {id, "data-path": path}, el("option", {value: ""}, "—"),
        schema.enum.map((option) => el("option", {value: String(option), selected: option === value}, String(option))));
    } else if (kind === "integer" || kind === "number") {
      input = el("input", {type: "number", id, "data-path": path, value: value ?? "",
                           min: schema.minimum, max: schema.maximum, step: kind === "integer" ? 1 : "any"});
    } else if (LONG_TEXT.has(key) || (schema.maxLength || 0) > 300) {
      input = el("textarea", {id, "data-path": path, rows: key === "passage" ? 8 : 3});
      input.value = value ?? "";
    } else {
      input = el("input", {id, "data-path": path, value: value ?? "", maxlength: schema.maxLength});
    }
    if (required) input.setAttribute("aria-required", "true");
    const wrapper = el("div", {class: "field", "data-field": path},
      el("label", {for: id}, text, required ? el("span", {class: "required", title: "required"}, " *") : null),
      input, help ? el("div", {class: "help"}, help) : null,
      el("div", {class: "field-error", "aria-live": "polite"}));
    const get = () => {
      if (kind === "integer" || kind === "number") return input.value === "" ? undefined : Number(input.value);
      return input.value === "" ? undefined : input.value;
    };
    return {element: wrapper, get, fields: [{path, element: wrapper, schema, required, get}]};
  }

  function listControl(key, schema, value, path, required) {
    const [text, help] = label(key, schema);
    const itemSchema = schema.items || {type: "string"};
    const rows = el("div", {class: "list-rows"});
    const entries = [];
    const wrapper = el("div", {class: "field list", "data-field": path},
      el("div", {class: "list-label"}, text, required ? el("span", {class: "required"}, " *") : null),
      help ? el("div", {class: "help"}, help) : null, rows,
      el("div", {class: "field-error", "aria-live": "polite"}));
    const add = (entryValue, focus) => {
      const entry = {};
      const index = entries.length;
      entry.control = control(key === "q" ? "question" : singular(key), itemSchema, entryValue, `${path}[${index}]`, false);
      const remove = el("button", {type: "button", class: "link remove", "aria-label": `Remove ${text} ${index + 1}`}, "remove");
      entry.row = el("div", {class: `list-row${typeOf(itemSchema) === "object" ? " object" : ""}`}, entry.control.element, remove);
      remove.addEventListener("click", () => {
        entries.splice(entries.indexOf(entry), 1);
        entry.row.remove();
        wrapper.dispatchEvent(new Event("input", {bubbles: true}));
      });
      entries.push(entry);
      rows.append(entry.row);
      if (focus) {
        const first = entry.row.querySelector("input, textarea, select");
        if (first) first.focus();
      }
    };
    for (const entryValue of Array.isArray(value) ? value : (value ? [value] : [])) add(entryValue, false);
    if (!entries.length && required) add(undefined, false);
    const addButton = el("button", {type: "button", class: "secondary add", "data-add": path},
                         `+ Add ${singular(text).toLowerCase()}`);
    addButton.addEventListener("click", () => add(undefined, true));
    wrapper.insertBefore(addButton, wrapper.lastChild);
    const get = () => {
      const values = entries.map((e) => e.control.get()).filter((v) => !isEmpty(v));
      return values.length ? values : undefined;
    };
    const fields = [{path, element: wrapper, schema, required, get, isList: true}];
    return {element: wrapper, get, get fields() { return fields.concat(entries.flatMap((e) => e.control.fields)); }};
  }

  /** "r.buttons[0].text", then "r.buttons[0]", "r.buttons", "r". */
  function ancestors(path) {
    const paths = [path];
    for (;;) {
      const last = paths[paths.length - 1];
      const parent = last.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
      if (parent === last || !parent) break;
      paths.push(parent);
    }
    return paths.filter(Boolean);
  }

  function singular(text) {
    return String(text).replace(/ies$/, "y").replace(/s$/, "");
  }

  function objectControl(key, schema, value, path) {
    const [text, help] = label(key, schema);
    const current = value && typeof value === "object" ? value : {};
    const required = new Set(schema.required || []);
    const children = Object.entries(schema.properties || {}).map(([name, child]) =>
      [name, control(name, child, current[name], path ? `${path}.${name}` : name, required.has(name))]);
    const fieldset = el("fieldset", {class: "field object", "data-field": path},
      el("legend", {}, text), help ? el("div", {class: "help"}, help) : null,
      children.map(([, c]) => c.element));
    const get = () => {
      const result = {...current};
      for (const [name, c] of children) {
        const v = c.get();
        if (isEmpty(v)) delete result[name]; else result[name] = v;
      }
      return isEmpty(result) ? undefined : result;
    };
    return {element: fieldset, get, get fields() { return children.flatMap(([, c]) => c.fields); }};
  }

  /** Build the form for an item into `form`; returns {get(), showProblems(), validate()}. */
  function build(form, schema, item) {
    clear(form);
    const original = {...(item || {})};
    const required = new Set(schema.required || []);
    const basic = el("div", {class: "form-basic"});
    const advancedBody = el("div", {class: "form-advanced"});
    const advanced = el("details", {class: "advanced", id: "advanced"},
      el("summary", {}, "Advanced: card, session attributes, hooks, chaining, client filter…"), advancedBody);
    const controls = [];
    for (const [name, child] of Object.entries(schema.properties || {})) {
      const c = control(name, child, original[name], name, required.has(name));
      controls.push([name, c]);
      if (!c.element) continue;
      (required.has(name) || EVERYDAY.has(name) ? basic : advancedBody).append(c.element);
      if (!required.has(name) && !EVERYDAY.has(name) && !isEmpty(original[name])) advanced.open = true;
    }
    form.append(basic);
    if (advancedBody.childElementCount) form.append(advanced);

    const get = () => {
      const result = {...original};
      for (const [name, c] of controls) {
        const v = c.get();
        if (isEmpty(v)) delete result[name]; else result[name] = v;
      }
      return result;
    };
    const fields = () => controls.flatMap(([, c]) => c.fields);

    function showProblems(problems) {
      for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
      for (const node of form.querySelectorAll(".invalid")) node.classList.remove("invalid");
      const unplaced = [];
      for (const problem of problems) {
        const path = String(problem.field || "").replace(/^body\.?/, "");
        let target = null;
        for (const p of ancestors(path)) {
          target = form.querySelector(`[data-field="${CSS.escape(p)}"]`);
          if (target) break;
        }
        if (target) {
          target.classList.add("invalid");
          const slot = target.querySelector(":scope > .field-error") || target.querySelector(".field-error");
          slot.textContent = slot.textContent ? `${slot.textContent} ${problem.message}` : problem.message;
          if (target.closest("details")) target.closest("details").open = true;
        } else {
          unplaced.push(problem);
        }
      }
      const first = form.querySelector(".invalid input, .invalid textarea, .invalid select");
      if (first) first.focus();
      return unplaced;
    }

    /** Problems found in the page before asking the server (required, length, pattern). */
    function validate() {
      const problems = [];
      for (const field of fields()) {
        const s = field.schema || {};
        const v = field.get ? field.get() : undefined;
        if (field.required && isEmpty(v)) { problems.push({field: field.path, message: "is required"}); continue; }
        if (typeof v === "string") {
          if (s.minLength && v.length < s.minLength) problems.push({field: field.path, message: "is required"});
          else if (s.maxLength && v.length > s.maxLength) {
            problems.push({field: field.path, message: `is too long: ${v.length} characters, at most ${s.maxLength}`});
          } else if (s.pattern && !new RegExp(s.pattern, "u").test(v)) {
            problems.push({field: field.path, message: s.pattern === "^\\S+$" ? "must not contain spaces"
                                                                                : "is not in the expected form"});
          }
        }
        if (field.isList && s.minItems && (v || []).length < s.minItems) {
          problems.push({field: field.path, message: `needs at least ${s.minItems}`});
        }
      }
      return problems;
    }

    return {get, showProblems, validate};
  }

  return {build, label};
})();
