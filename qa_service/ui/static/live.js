// 实时监控: renders the board from snapshots the server pushes (server-sent events), and
// acknowledges / closes alerts through the JSON API. Text goes in with textContent only.
(function () {
  "use strict";
  const SEVERITY = {info: "提示", minor: "一般", major: "重要", critical: "紧急"};
  const STATUS = {open: "待介入", acknowledged: "已介入", closed: "已关闭"};
  const userBox = document.getElementById("qa-user");

  // Bidirectional-text controls are shown as their code, not obeyed (as the server-drawn pages do):
  // a right-to-left override in a turn would draw "0001" as "1000".
  const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  function shown(text) {
    return String(text).replace(BIDI, (ch) => "[U+" + ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0") + "]");
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "—" : shown(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function time(iso) {
    const d = new Date(iso);
    return d.toLocaleTimeString("zh-CN", {hour12: false});
  }

  function say(text, error) {
    const box = document.getElementById("msg");
    box.textContent = text;
    box.className = error ? "error" : "";
    box.hidden = false;
  }

  // Alerts with a request in flight: a second click (or a board redrawn meanwhile) sends nothing, so a
  // double-clicked 介入 no longer answers "already acknowledged" after it succeeded.
  const busy = new Set();

  async function act(alertId, action) {
    if (busy.has(alertId)) return;
    const note = action === "close" ? window.prompt("处理结果（可空）", "") : null;
    if (action === "close" && note === null) return;
    const body = {note: note || null};
    if (userBox) {
      const who = userBox.value.trim();
      if (!who) { say("请先在右上角填写当前用户", true); userBox.focus(); return; }
      body.by = who;
    }
    busy.add(alertId);
    document.querySelectorAll(`#alerts tr[data-alert="${alertId}"] button`).forEach((b) => { b.disabled = true; });
    let res;
    try {
      res = await fetch(`/v1/live/alerts/${alertId}/${action}`, {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    } finally {
      busy.delete(alertId);
    }
    if (res.status === 401) {
      say("登录已失效，请重新登录：", true);
      const link = document.createElement("a");
      link.href = "/ui/login?next=" + encodeURIComponent(location.pathname);
      link.textContent = "登录";
      document.getElementById("msg").append(link);
    }
    if (!res.ok) {
      document.querySelectorAll(`#alerts tr[data-alert="${alertId}"] button`).forEach((b) => { b.disabled = false; });
      let data = null;
      try { data = await res.json(); } catch (e) { /* empty */ }
      const chinese = window.qaChinese || String;  // ui.js, loaded before this script
      if (res.status !== 401) say(data && typeof data.detail === "string" ? chinese(data.detail) : `操作失败（${res.status}）`, true);
    }
  }

  function leftOff(tbody, n) {
    const td = cell(tbody.insertRow(), `另有 ${n} 条更早的待介入预警未列出：GET /v1/live/alerts?status=open 可查全部`, "empty");
    td.colSpan = 8;
  }

  function render(board) {
    const alerts = document.querySelector("#alerts tbody");
    alerts.replaceChildren();
    if (!board.alerts.length) cell(alerts.insertRow(), "暂无预警", "empty").colSpan = 8;
    // Every open alert comes first (newest first), then the latest handled ones: an open alert is never
    // pushed off the board by newer ones. Past the server's bound the older open ones are counted.
    const openCount = document.getElementById("open-count");
    if (openCount) {
      openCount.textContent = `待介入 ${board.open_alerts || 0} 条`;
      openCount.hidden = !board.open_alerts;
    }
    let leftOffShown = !board.open_left_off;
    for (const a of board.alerts) {
      if (!leftOffShown && a.status !== "open") {
        leftOffShown = true;
        leftOff(alerts, board.open_left_off);
      }
      const tr = alerts.insertRow();
      tr.className = "sev-" + a.severity;
      tr.dataset.alert = a.alert_id;
      cell(tr, time(a.created_at), "nowrap");
      cell(tr, SEVERITY[a.severity] || a.severity, "nowrap");
      cell(tr, a.message);
      cell(tr, [a.team, a.agent_id].filter(Boolean).join(" / "));
      // the turn as the transcript page numbers it (语句 #0 is the first, as seq and utterance_index count):
      // "第 3 句" here was "#2" there, and the supervisor looked one turn too far
      // a link to the conversation: its transcript page once it has become one, else its live page (which
      // sends the reader on to the transcript once it has ended)
      const conv = cell(tr, "");
      const link = document.createElement("a");
      const turn = a.utterance_index === null ? "" : `#u${a.utterance_index}`;
      link.href = a.transcript_id ? `/ui/transcripts/${a.transcript_id}${turn}` : `/ui/live/conversations/${a.conversation_id}${turn}`;
      link.textContent = shown(`${a.source}/${a.external_id}` + (a.utterance_index === null ? "" : `（语句 #${a.utterance_index}）`));
      conv.appendChild(link);
      const quote = cell(tr, a.quote);
      const at = a.matched && a.quote ? a.quote.indexOf(a.matched) : -1;
      if (at >= 0) {  // the turn, with the words the rule matched marked in it
        const mark = document.createElement("mark");
        mark.textContent = shown(a.matched);
        quote.replaceChildren(shown(a.quote.slice(0, at)), mark, shown(a.quote.slice(at + a.matched.length)));
      }
      // An open alert whose conversation is over says so: 介入 can no longer reach the call. The button stays:
      // it records that someone follows it up (a call back), as the intervention SLA counts it.
      const over = a.status === "open" && a.conversation_ended;
      cell(tr, (STATUS[a.status] || a.status) + (over ? "（会话已结束）" : ""), "status nowrap");
      const td = cell(tr, "");
      if (a.status === "open") {
        const ack = document.createElement("button");
        ack.textContent = "介入";
        ack.className = "primary ack";
        if (over) ack.title = "会话已结束：介入即确认已跟进（如回访客户）";
        ack.setAttribute("aria-label", "介入：" + shown(a.message));  // which alert: one pair of buttons per row
        ack.disabled = busy.has(a.alert_id);
        ack.addEventListener("click", () => act(a.alert_id, "ack"));
        td.appendChild(ack);
      }
      if (a.status !== "closed") {
        const close = document.createElement("button");
        close.textContent = "关闭";
        close.setAttribute("aria-label", "关闭：" + shown(a.message));
        close.disabled = busy.has(a.alert_id);
        close.addEventListener("click", () => act(a.alert_id, "close"));
        td.appendChild(close);
      }
    }
    if (!leftOffShown) leftOff(alerts, board.open_left_off);
    const convs = document.querySelector("#conversations tbody");
    convs.replaceChildren();
    if (!board.conversations.length) cell(convs.insertRow(), "暂无进行中的会话", "empty").colSpan = 8;
    for (const c of board.conversations) {
      const tr = convs.insertRow();
      const r = c.readings || {};
      cell(tr, `${c.source}/${c.external_id}`);
      cell(tr, [c.team, c.agent_id].filter(Boolean).join(" / "));
      cell(tr, c.channel === "call" ? "通话" : "在线");
      cell(tr, c.turns, "num");
      cell(tr, c.waiting_s === null ? "—" : `${Math.round(c.waiting_s)} 秒`, "num");
      cell(tr, r.predicted_satisfaction === undefined ? "—" : Math.round(r.predicted_satisfaction), "num");
      cell(tr, r.customer_anger === undefined ? "—" : r.customer_anger.toFixed(2), "num");
      cell(tr, c.alerts, "num");
    }
  }

  render(JSON.parse(document.getElementById("live-initial").textContent));
  const status = document.getElementById("live-status");
  const source = new EventSource("/ui/live/events");
  source.addEventListener("open", () => { status.textContent = "实时"; });
  source.addEventListener("error", () => { status.textContent = "重连中…"; });
  source.addEventListener("board", (e) => { status.textContent = "实时"; status.classList.remove("stale"); render(JSON.parse(e.data)); });
  // Redis (the live state) is away: the board shown is kept but no longer current; the server keeps trying
  // and sends a fresh board once it answers.
  source.addEventListener("unavailable", () => {
    status.textContent = "实时数据暂不可用（Redis 无法连接），自动重试中…";
    status.classList.add("stale");
  });
  source.addEventListener("ended", () => { source.close(); status.textContent = "登录已失效，请重新登录"; });
})();
