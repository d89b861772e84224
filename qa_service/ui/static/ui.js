// qa_service UI: actions call the JSON API (/v1/...), then reload where the reviewer was; charts use plotly.js.
(function () {
  "use strict";
  // With access control on, the server names the actor from the login: no user box, `by` left out.
  const userBox = document.getElementById("qa-user");
  if (userBox) {
    userBox.value = localStorage.getItem("qa-user") || "";
    userBox.addEventListener("change", () => localStorage.setItem("qa-user", userBox.value.trim()));
  }

  // A verdict's earlier comment goes back in its box for the reviewer who wrote it; another one sees it
  // beside an empty box (transcript.html says why). With access control on, the page decided already.
  function offerComments() {
    const who = userBox ? userBox.value.trim() : "";
    document.querySelectorAll(".verdict-comment[data-comment]").forEach((box) => {
      const mine = who !== "" && who === box.dataset.by;
      if (mine && !box.value) box.value = box.dataset.comment;
      if (!mine && box.value === box.dataset.comment) box.value = "";
      const note = box.parentElement.querySelector(".comment");
      if (note) note.hidden = mine;
    });
  }
  offerComments();
  if (userBox) userBox.addEventListener("input", offerComments);

  function user() {
    if (!userBox) return undefined;
    const who = userBox.value.trim();
    if (!who) { say("请先在右上角填写当前用户", true); userBox.focus(); throw new Error("no user"); }
    localStorage.setItem("qa-user", who);
    return who;
  }

  function say(text, error) {
    const box = document.getElementById("msg");
    box.textContent = text;  // textContent: messages may echo user input
    box.className = error ? "error" : "";
    box.hidden = false;
  }

  // A login that ran out (or 退出 in another tab): say so, with the way back to this page.
  function sayLogin() {
    say("登录已失效，请", true);
    const link = document.createElement("a");
    link.href = "/ui/login?next=" + encodeURIComponent(location.pathname + location.search);
    link.textContent = "重新登录";
    document.getElementById("msg").append(link, "后再操作。");
  }

  // The API speaks English; the messages people meet most often, in Chinese (the rest as sent).
  const CHINESE = [
    [/^invalid or revoked API key/, () => "密钥无效或已吊销。"],
    [/^role \S+ may not /, () => "当前角色无权执行此操作。"],
    [/^this key sees team (.+) only/, (m) => `只能查看和处理团队 ${m[1]} 的数据。`],
    [/^review \d+ is done/, () => "复核已完成，不能再修改。"],
    [/^review \d+ is not done yet/, () => "复核尚未完成，完成后才能申诉。"],
    [/^the appeal window closed/, () => "申诉期已过。"],
    [/^the appellant cannot decide their own appeal/, () => "申诉人不能处理自己的申诉。"],
    [/^appeal \d+ was (accepted|rejected) by (.+?) on/, (m) => `该申诉已由 ${m[2]} 处理（${m[1] === "accepted" ? "成立" : "驳回"}）。`],
    [/^finding \d+ was rejected by the reviewer/, () => "该机检结果已被复核员判为错误，不扣分，无需申诉。"],
    [/^(?:manual )?finding \d+ costs 0 points/, () => "该结果不扣分（0 分），无需申诉。"],
    [/^(?:manual )?finding \d+ adds \S+ points/, () => "加分项不能申诉：申诉成立会撤销该项，反而降低得分。"],
    [/^(?:manual )?finding \d+ was already appealed/, () => "该结果已申诉过：每项只能申诉一次。"],
    [/^review \d+ is assigned to (.+?); send take_over: true to (complete)?/, (m) => `该复核已分配给 ${m[1]}；如需接手，请点“${m[2] ? "接手并完成复核" : "接手复核"}”。`],
    [/^reviewers: '(.+?)' is no active key's name/, (m) => `复核员 ${m[1]} 不存在，请检查拼写。`],
    [/^reviewers: '(.+?)' is a (\S+) key/, (m) => `${m[1]} 不是复核员，不能分配复核。`],
    [/^reviewers: '(.+?)' is scoped to team (\S+)/, (m) => `复核员 ${m[1]} 只能查看团队 ${m[2]} 的复核，不能分配其他团队的复核。`],
    [/^utterance_index \d+ is a customer turn/, () => "该语句是客户说的：坐席行为类扣分须引用坐席原话（客户情绪、异议处理除外）。"],
    [/^quote .* is not in the utterance/, () => "原文片段不在该语句中：请逐字复制原文，或留空。"],
    [/^alert \d+ is already (\w+)/, (m) => `该预警已${m[1] === "closed" ? "关闭" : "介入"}。`],
    [/^reviews already done cannot be reassigned/, () => "已完成的复核不能重新分配。"],
  ];

  function chinese(text) {
    for (const [pattern, words] of CHINESE) {
      const m = String(text).match(pattern);
      if (m) return words(m);
    }
    return text;
  }

  window.qaChinese = chinese;  // the live board's script says the API's errors in Chinese too

  // A validation error as 标签：问题, the field by its form's label (分值, 说明, 复核员…) and pydantic's English in
  // Chinese: the tables are the server's (api/ui_errors.py, in the page as #ui-words), which says its error
  // pages the same way. Was: "points：Input should be greater than or equal to -100".
  const WORDS = (() => {
    const el = document.getElementById("ui-words");
    try { return el ? JSON.parse(el.textContent) : null; } catch (e) { return null; }
  })() || {fields: {}, types: {}, values: []};
  const VALUE_ERRORS = WORDS.values.map(([pattern, words]) => [new RegExp("^" + pattern), words]);

  function fill(template, values) {
    const out = template.replace(/\{(\w+)\}/g, (m, k) => (values[k] === undefined ? m
      : Array.isArray(values[k]) ? values[k].join(", ") : String(values[k])));
    return out.includes("{") ? out.split("{")[0].replace(/[：:， ]+$/, "") : out;
  }

  function entry(d) {
    const loc = (d.loc || []).map(String).filter((p) => !["body", "query", "path"].includes(p));
    const name = [...loc].reverse().find((p) => !/^\d+$/.test(p)) || "";
    let where = WORDS.fields[name] || loc.join(".") || "请求";
    if (["query", "path"].includes(String((d.loc || [])[0])) && name && where !== name) where += `（${name}）`;
    const ctx = d.ctx || {};
    if (WORDS.types[d.type]) {
      if (d.type === "string_too_short" && ctx.min_length && ctx.min_length !== 1) return `${where}：至少 ${ctx.min_length} 个字符`;
      return `${where}：${fill(WORDS.types[d.type], ctx)}`;
    }
    const text = String(d.msg || "").replace(/^Value error, /, "");
    for (const [pattern, words] of VALUE_ERRORS) {
      const m = text.match(pattern);
      if (m) return `${where}：${fill(words, m.slice(1))}`;
    }
    return `${where}：${chinese(text)}`;
  }

  function problem(body) {
    if (!body) return "请求失败";
    if (typeof body.detail === "string") return chinese(body.detail);
    if (Array.isArray(body.detail)) return body.detail.map(entry).join("；");
    return JSON.stringify(body);
  }

  async function api(method, url, body) {
    const res = await fetch(url, {method, headers: {"Content-Type": "application/json"},
                                  body: body === undefined ? undefined : JSON.stringify(body)});
    let data = null;
    try { data = await res.json(); } catch (e) { /* empty body */ }
    if (res.status === 401 && url !== "/ui/login") { sayLogin(); throw new Error(res.status); }
    if (!res.ok) { say(problem(data), true); throw new Error(res.status); }
    return data;
  }

  const layout = document.querySelector(".layout");
  const reviewId = layout ? layout.dataset.review : "";
  const transcriptId = layout ? layout.dataset.transcript : "";

  // Each action says what it saved (#msg, a status region: a screen reader hears it after the reload).
  const titleOf = (el) => { const head = el.closest("li, tr"); const b = head && head.querySelector(".head b");
                            return b ? b.textContent.trim() : ""; };
  const actions = {
    "verdict": async (el) => {
      const item = el.closest("li");
      const comment = item.querySelector(".verdict-comment");
      await api("PUT", `/v1/reviews/${reviewId}/findings/${el.dataset.finding}/verdict`,
                {verdict: el.dataset.verdict, comment: comment && comment.value || null, by: user()});
      return `已保存：${el.dataset.verdict === "confirmed" ? "机检正确" : "机检错误"}（${titleOf(el)}）`;
    },
    "remove-manual": async (el) => {
      await api("DELETE", `/v1/reviews/${reviewId}/manual-findings/${el.dataset.manual}` + (userBox ? `?by=${encodeURIComponent(user())}` : ""));
      return `已删除人工补充（${titleOf(el)}）`;
    },
    "complete": async (el) => {
      // take_over only from the button that says so (a review assigned to someone else: transcript.html)
      const comment = document.getElementById("review-comment");
      const body = {confirm_rest: true, comment: comment.value || null, by: user()};
      if (el.dataset.takeOver) body.take_over = true;
      await api("POST", `/v1/reviews/${reviewId}/complete`, body);
      return "已保存：复核已完成";
    },
    "take-over": async () => {
      await api("POST", `/v1/reviews/${reviewId}/take-over`, {by: user()});
      return "已接手复核";
    },
    "open-review": async () => {
      await api("POST", "/v1/reviews", {transcript_id: Number(transcriptId), by: user()});
      return "已加入复核队列";
    },
    "decide": async (el) => {
      const row = el.closest("tr, li");
      const comment = row && row.querySelector(".decision-comment");
      await api("POST", `/v1/appeals/${el.dataset.appeal}/decision`,
                {decision: el.dataset.decision, comment: comment && comment.value || null, by: user()});
      return `已保存：申诉 #${el.dataset.appeal} ${el.dataset.decision === "accepted" ? "成立" : "驳回"}`;
    },
  };

  // A form's field that will not do: said in the message bar (naming the field), marked, and focused.
  function refuse(field, text) {
    say(text, true);
    field.setAttribute("aria-invalid", "true");
    field.focus();
    throw new Error(text);
  }

  document.addEventListener("input", (ev) => { if (ev.target.removeAttribute) ev.target.removeAttribute("aria-invalid"); });

  // A whole number within the field's min–max, full-width digits (a Chinese IME's ２) read as digits; else null.
  function wholeNumber(field) {
    const raw = String(field.value).trim().replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0));
    if (field.validity && field.validity.badInput) return null;
    if (!/^\d+$/.test(raw)) return null;
    const n = Number(raw);
    return n >= Number(field.min || 1) && n <= Number(field.max || Infinity) ? n : null;
  }

  const forms = {
    "add-manual": async (form) => {
      const f = new FormData(form);
      // Number("") is 0: an empty 分值 saved a finding worth nothing
      if (String(f.get("points")).trim() === "" || !Number.isFinite(Number(f.get("points")))) {
        say("请填写分值（扣分填负数，如 -5）", true);
        throw new Error("no points");
      }
      await api("POST", `/v1/reviews/${reviewId}/manual-findings`, {
        dimension: f.get("dimension"), utterance_index: Number(f.get("utterance_index")),
        quote: f.get("quote") || null, points: Number(f.get("points")), message: f.get("message"),
        rule_id: f.get("rule_id") || null, fatal: f.get("fatal") === "on", by: user()});
      return `已保存：人工补充（${f.get("message")}）`;
    },
    "appeal": async (form) => {
      const f = new FormData(form);
      const body = {reason: f.get("reason"), by: user()};
      if (form.dataset.finding) body.finding_id = Number(form.dataset.finding);
      else body.manual_finding_id = Number(form.dataset.manual);
      await api("POST", `/v1/reviews/${reviewId}/appeals`, body);
      return `已提交申诉（${titleOf(form)}）`;
    },
    "assign": async (form) => {
      // Exactly the rows this page shows (every filter applied), those not yet assigned: never more.
      const f = new FormData(form);
      const reviewers = String(f.get("reviewers")).split(/[,，\s\u3000]+/).filter(Boolean);
      if (!reviewers.length) refuse(form.elements.reviewers, "给复核员：请填写至少一位复核员的名字");
      // Was `Number(limit) || 50`: a full-width ２, "abc" or 0 dealt out every row listed.
      const limit = wholeNumber(form.elements.limit);
      if (limit === null) refuse(form.elements.limit, `前 N 条：请输入 1–${form.elements.limit.max} 的整数`);
      const ids = [...document.querySelectorAll("#queue tr[data-unassigned]")].map(tr => Number(tr.dataset.review))
        .slice(0, limit);
      if (!ids.length) { say("本页没有未分配的复核", true); throw new Error("nothing to assign"); }
      const out = await api("POST", "/v1/reviews/assign", {reviewers, mode: "round_robin", review_ids: ids, by: user()});
      return `已分配 ${Object.keys(out.assigned).length} 条`;
    },
  };

  // After an action the page reloads (scores, states and highlights as the server now computes them), and
  // the reviewer keeps their place: the findings panel's and the page's scroll, the focus on the same
  // control (found again by its finding's data-key and its own data-* attributes; else the finding itself),
  // and what was saved is said in #msg. Was: the panel jumped to the top, focus went back to the start of the
  // page and nothing said the verdict was saved.
  const PLACE = "qa-place";
  const here = () => location.pathname + location.search;
  const dataAttrs = (node) => [...node.attributes].filter((a) => a.name.startsWith("data-") && a.name !== "data-busy")
    .map((a) => `[${a.name}="${CSS.escape(a.value)}"]`).join("");

  function selectorOf(el) {
    if (!el || !el.tagName || el === document.body) return null;
    if (el.id) return "#" + CSS.escape(el.id);
    let sel = el.tagName.toLowerCase() + dataAttrs(el) + (el.name ? `[name="${CSS.escape(el.name)}"]` : "");
    const form = el.closest("form[data-action]");
    if (form && form !== el) sel = "form" + dataAttrs(form) + " " + sel;
    const holder = el.closest("[data-key]");
    if (holder && holder !== el) sel = `[data-key="${CSS.escape(holder.dataset.key)}"] ` + sel;
    return sel;
  }

  function remember(el, message) {
    const panel = document.querySelector(".panel");
    const holder = el.closest("[data-key]");
    sessionStorage.setItem(PLACE, JSON.stringify({
      path: here(), message: message || "已保存", panel: panel ? panel.scrollTop : null, y: window.scrollY,
      focus: selectorOf(el), key: holder ? holder.dataset.key : null, top: el.getBoundingClientRect().top,
      index: holder ? [...document.querySelectorAll("[data-key]")].indexOf(holder) : -1}));
    history.scrollRestoration = "manual";  // the page's scroll is put back here, with the panel's
  }

  function restore() {
    const raw = sessionStorage.getItem(PLACE);
    if (!raw) return;
    sessionStorage.removeItem(PLACE);
    let place;
    try { place = JSON.parse(raw); } catch (e) { return; }
    history.scrollRestoration = "auto";
    if (place.path === here()) {
      const panel = document.querySelector(".panel");
      if (panel && place.panel !== null) panel.scrollTop = place.panel;
      window.scrollTo(0, place.y);
      let el = place.focus && document.querySelector(place.focus);
      if (!el || el.disabled || el.closest("[hidden]")) el = place.key && document.querySelector(`[data-key="${CSS.escape(place.key)}"]`);
      if (!el && place.index >= 0) {  // its row left the list (an appeal decided, under 待处理): the one now in its place
        const rows = document.querySelectorAll("[data-key]");
        el = rows.length ? rows[Math.min(place.index, rows.length - 1)] : null;
      }
      if (el) {
        if (el.tabIndex < 0 && !el.hasAttribute("tabindex")) el.tabIndex = -1;
        el.focus({preventScroll: true});
        // the same control at the same height as before, should something above it have grown or shrunk
        const shift = el.getBoundingClientRect().top - place.top;
        if (Math.abs(shift) > 1) {
          if (panel && panel.contains(el) && panel.scrollHeight > panel.clientHeight) panel.scrollTop += shift;
          else window.scrollBy(0, shift);
        }
      }
    }
    // a moment after the page is drawn: a status region announces what changes in it, not what it held at load
    setTimeout(() => say(place.message), 150);
  }

  document.addEventListener("click", async (ev) => {
    const el = ev.target.closest("button[data-action]");
    if (!el || !actions[el.dataset.action]) return;
    ev.preventDefault();
    el.disabled = true;
    try { remember(el, await actions[el.dataset.action](el)); location.reload(); } catch (e) { el.disabled = false; }
  });

  // One request per form at a time: a double click or a second Enter posted twice (a manual finding
  // and its points added twice). Held until the reload on success; released on failure.
  function hold(form, on) {
    if (on) form.dataset.busy = "1"; else delete form.dataset.busy;
    form.querySelectorAll("button").forEach((b) => { b.disabled = on; });
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form[data-action]");
    if (!form) return;
    ev.preventDefault();
    if (form.dataset.busy) return;
    hold(form, true);
    try {
      remember(ev.submitter || form, await forms[form.dataset.action](form));
      location.reload();
    } catch (e) { hold(form, false); }
  });

  restore();

  // Evidence <-> finding: a highlight is a link to its finding (click, or Tab and Enter), which then has the
  // focus; a card's #N (or a double click on it) goes back to its highlight. Without script the links still
  // jump. Was: a click on the <mark> only, nothing for the keyboard.
  function flash(el) { el.classList.add("flash"); el.scrollIntoView({block: "center", behavior: "smooth"});
                       setTimeout(() => el.classList.remove("flash"), 1500); }
  document.querySelectorAll("a.evidence").forEach((a) => a.addEventListener("click", (ev) => {
    const key = a.querySelector("mark").dataset.keys.split(" ")[0];
    const item = document.querySelector(`li[data-key="${key}"]`);
    if (!item) return;
    ev.preventDefault();
    item.focus({preventScroll: true});
    flash(item);
  }));
  function toEvidence(key) {
    const mark = document.querySelector(`mark.k-${key}`);
    if (!mark) return false;
    mark.closest("a.evidence").focus({preventScroll: true});
    flash(mark);
    return true;
  }
  document.querySelectorAll("a.to-evidence").forEach((a) => a.addEventListener("click", (ev) => {
    if (toEvidence(a.dataset.evidence)) ev.preventDefault();
  }));
  document.querySelectorAll("li[data-key]").forEach((li) => li.addEventListener("dblclick", () => toEvidence(li.dataset.key)));

  const loginForm = document.getElementById("login-form");
  if (loginForm) {
    loginForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (loginForm.dataset.busy) return;
      const key = new FormData(loginForm).get("key");
      hold(loginForm, true);
      try {
        await api("POST", "/ui/login", {key});
      } catch (e) { hold(loginForm, false); return; }
      location.href = loginForm.dataset.next || "/ui/";
    });
  }

  // Charts
  if (!window.Plotly) return;
  // No modebar: plotly's offered "Share chart…" (an upload to Plotly Cloud: QA data leaving the site) and ten
  // English-named buttons per chart, 38 Tab stops on the dashboard. Each chart's heading has its own
  // 下载图片 button instead (below), and a table of its values (dashboard.html, _charts.html).
  const cfg = {displaylogo: false, responsive: true, showSendToCloud: false, displayModeBar: false,
               modeBarButtonsToRemove: ["sendDataToCloud"]};
  // The titles are the pages' headings (each chart's <h2>, read by screen readers too), not drawn again.
  const base = {margin: {l: 50, r: 20, t: 16, b: 40}, font: {family: "PingFang SC, Microsoft YaHei, sans-serif"}};
  // Series told apart by more than colour: each its own marker symbol and line dash.
  const SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "cross", "star", "triangle-down"];
  const DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];
  const senti = document.getElementById("sentiment-data");
  if (senti) {
    const d = JSON.parse(senti.textContent);
    Plotly.newPlot("sentiment-chart", [{x: d.seq, y: d.valence, mode: "lines+markers", name: "客户情绪",
      line: {color: "#3370ff"}}], {...base,
      yaxis: {range: [-1.05, 1.05], title: {text: "负面 ← → 正面"}}, xaxis: {title: {text: "语句 #"}},
      margin: {l: 50, r: 10, t: 10, b: 35}}, cfg);
  }
  document.querySelectorAll("button[data-chart-png]").forEach((b) => b.addEventListener("click", () => {
    const chart = document.getElementById(b.dataset.chartPng);
    if (chart && chart.data) Plotly.downloadImage(chart, {format: "png", filename: b.dataset.chartPng});
  }));
  // Plotly reads <b>, <br>, &...; in labels as markup: user content (agent ids, messages) is escaped.
  const esc = (x) => String(x).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const short = (x, n) => (x.length > n ? x.slice(0, n) + "…" : x);
  // A phone: legends under the plot, labels shorter, margins as the labels need (automargin). Was: the
  // 高频问题 bars kept a 230 px margin (90 px of bars at 375 px, labels cut), legends and labels clipped.
  const narrow = window.matchMedia("(max-width: 600px)").matches;
  const below = narrow ? {legend: {orientation: "h", x: 0, xanchor: "left", y: -0.2, yanchor: "top"}} : {};
  const dash = document.getElementById("dash-data");
  if (dash) {
    const d = JSON.parse(dash.textContent);
    const low = Math.min(...d.agents.map(a => a.adjusted), 100);
    Plotly.newPlot("chart-trend", d.trend.map((t, i) => ({x: t.days, y: t.mean, mode: "lines+markers", name: esc(t.team),
      text: t.n.map(n => `${n} 通`), marker: {symbol: SYMBOLS[i % SYMBOLS.length], size: 7},
      line: {dash: DASHES[i % DASHES.length]}})),
      {...base, ...below, yaxis: {title: {text: "均分"}, automargin: true},
       xaxis: {tickformat: "%m-%d", hoverformat: "%Y-%m-%d", automargin: true}}, cfg);
    // Ranked by the adjusted score, as appraisals rank (the mean shrunk toward the team's); an agent with
    // fewer than k conversations is drawn hatched and pale: their bar is mostly their team's mean.
    Plotly.newPlot("chart-agents", [{type: "bar", x: d.agents.map(a => esc(a.agent_id)), y: d.agents.map(a => a.adjusted),
      text: d.agents.map(a => `n=${a.n}${a.few ? " 样本少" : ""}`),
      hovertext: d.agents.map(a => `${esc(a.agent_id)}：校正分 ${a.adjusted.toFixed(1)}，均分 ${a.mean.toFixed(1)}，${a.n} 通` +
        (a.few ? `（少于 ${d.shrinkage_n} 通）` : "")), hoverinfo: "text",
      marker: {color: d.agents.map(a => (a.few ? "#a9c1ff" : "#3370ff")),
               pattern: {shape: d.agents.map(a => (a.few ? "/" : ""))}}}],
      {...base, margin: {l: 50, r: 20, t: 16, b: narrow ? 40 : 110},
       yaxis: {title: {text: "校正分"}, range: [Math.max(0, Math.floor(low) - 5), 100.5], automargin: true},
       xaxis: {tickangle: -40, automargin: true}}, cfg);
    if (d.radar) {
      const close = (xs) => xs.concat(xs.slice(0, 1));
      Plotly.newPlot("chart-radar", [
        {type: "scatterpolar", r: close(d.radar.agent), theta: close(d.radar.labels), fill: "toself", name: esc(d.radar.agent_id),
         mode: "lines+markers", marker: {symbol: "circle", size: 7}, line: {dash: "solid"}},
        {type: "scatterpolar", r: close(d.radar.team_mean), theta: close(d.radar.labels), name: `${esc(d.radar.team)} 均值`,
         mode: "lines+markers", marker: {symbol: "square", size: 7}, line: {dash: "dash"}}],
        {...base, ...below, margin: narrow ? {l: 40, r: 40, t: 30, b: 30} : {l: 50, r: 20, t: 30, b: 30},
         polar: {radialaxis: {range: [0, 100]}}}, cfg);
    }
    const top = d.top_findings.slice().reverse();
    Plotly.newPlot("chart-findings", [{type: "bar", orientation: "h", x: top.map(f => f.count),
      y: top.map(f => esc(short(f.message, narrow ? 7 : 16))), text: top.map(f => esc(f.rule_id)),
      textposition: narrow ? "none" : "auto",  // a phone: the rule ids are in the hover and the 数据表
      hovertext: top.map(f => esc(f.message)), hoverinfo: "text+x", marker: {color: "#fa541c"}}],
      {...base, margin: {l: narrow ? 10 : 230, r: 20, t: 16, b: 40}, yaxis: {automargin: true}}, cfg);
  }

})();
