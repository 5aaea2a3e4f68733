// The worker map's own script (maps/worker.py inlines it inside `(function (map) { … })(theMap)`).
// Draws the layers from the page's JSON block; every text a user typed goes in with textContent, never innerHTML.
// Visits and hazards are queued in localStorage with their client_id and body, sent with the session cookie and
// the CSRF header; kept while offline or when the server fails (5xx), resent on `online`, on load and every 30 s;
// removed on 200/201 (a resend of a stored entry gets 200: the server keeps it once), dropped with a message on
// another 4xx (401: kept until signed in again).
"use strict";
var data = JSON.parse(document.getElementById("gridmap-worker-data").textContent);
var user = data.user || {};
var QUEUE_KEY = "gridmap.queue." + (user.id || "file");
var layers = {};
var statusBox = null;
var lastPosition = null; // {lat, lon, at} from the locate control

function el(tag, text, className) {
  var node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function table(rows) {
  var t = el("table");
  rows.forEach(function (row) {
    var tr = el("tr");
    tr.appendChild(el("th", row[0]));
    tr.appendChild(el("td", row[1] === null || row[1] === undefined ? "—" : row[1]));
    t.appendChild(tr);
  });
  return t;
}

// --- the offline queue -------------------------------------------------------------------------------------------

function readQueue() {
  try {
    var q = JSON.parse(window.localStorage.getItem(QUEUE_KEY) || "[]");
    return Array.isArray(q) ? q : [];
  } catch (e) {
    return [];
  }
}

function writeQueue(q) {
  window.localStorage.setItem(QUEUE_KEY, JSON.stringify(q));
}

function removeEntry(clientId) {
  writeQueue(readQueue().filter(function (e) { return e.client_id !== clientId; }));
}

function uuid() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  var b = new Uint8Array(16);
  window.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
  return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
}

function csrfToken() {
  var found = document.cookie.split("; ").filter(function (c) { return c.indexOf("gridmap_csrf=") === 0; })[0];
  return found ? decodeURIComponent(found.slice("gridmap_csrf=".length)) : "";
}

function say(message) {
  if (statusBox) statusBox.textContent = message || "";
}

function pendingNote() {
  var n = readQueue().length;
  return n ? "待发送 " + n + " 条（联网后自动发送）" : "";
}

var flushing = false;

function detailOf(response) {
  return response.json().then(function (body) {
    var d = body && (body.detail !== undefined ? body.detail : body.code);
    return typeof d === "string" ? d : JSON.stringify(d);
  }).catch(function () { return "HTTP " + response.status; });
}

function sendOne(entry) {
  return fetch((data.api || "") + entry.url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: entry.body,
  });
}

function flush() {
  if (flushing || data.api === null || data.api === undefined) return Promise.resolve();
  flushing = true;
  var queue = readQueue();
  var step = function (i) {
    if (i >= queue.length) return Promise.resolve(true);
    var entry = queue[i];
    return sendOne(entry).then(function (response) {
      if (response.status === 200 || response.status === 201) {
        removeEntry(entry.client_id);
        if (entry.kind === "visit") visited(entry);
        say("已提交：" + entry.label);
        return step(i + 1);
      }
      if (response.status === 401) {
        say("登录已过期，请重新登录后自动重发");
        return false;
      }
      if (response.status >= 400 && response.status < 500) {
        return detailOf(response).then(function (detail) {
          removeEntry(entry.client_id);
          say("提交失败（" + response.status + "）：" + entry.label + " — " + detail);
          return step(i + 1);
        });
      }
      say("服务器暂时无法保存，稍后重发。" + pendingNote());
      return false;
    }, function () {
      say("离线：已保存在手机上。" + pendingNote());
      return false;
    });
  };
  return step(0).then(function (r) {
    flushing = false;
    // entries queued while these were being sent go out now, not at the next retry
    if (r && readQueue().length) return flush();
    return r;
  }, function () { flushing = false; });
}

// A visit stored: its household is no longer due, and its building is drawn with its new counts.
function visited(entry) {
  var householdId = JSON.parse(entry.body).household_id;
  if (!layers.buildings) return;
  layers.buildings.eachLayer(function (layer) {
    var p = layer.feature.properties, choices = data.households[String(p.id)] || [];
    var h = choices.filter(function (c) { return c[0] === householdId; })[0];
    if (!h || h[3] === null || h[3] === undefined) return;
    h[3] = null;
    var due = choices.filter(function (c) { return c[3] !== null && c[3] !== undefined; });
    p.due = due.length;
    p.overdue = due.filter(function (c) { return c[3] > 0; }).length;
    p.status = p.overdue ? "overdue" : p.due ? "due" : "done";
    layer.setStyle({ fillColor: (data.status[p.status] || ["", "#9e9e9e"])[1] });
  });
}

function enqueue(kind, url, body, label) {
  var entry = { client_id: body.client_id, kind: kind, url: url, body: JSON.stringify(body), label: label,
                queued_at: new Date().toISOString() };
  var q = readQueue();
  q.push(entry);
  writeQueue(q);
  say("已保存，正在发送：" + label);
  return flush();
}

// --- forms in a building's popup --------------------------------------------------------------------------------

function whereNow(props) {
  var fresh = lastPosition && Date.now() - lastPosition.at < 5 * 60 * 1000;
  var lon = fresh ? lastPosition.lon : props.lon;
  var lat = fresh ? lastPosition.lat : props.lat;
  return { type: "Point", coordinates: [Number(lon.toFixed(7)), Number(lat.toFixed(7))] };
}

function select(name, options) {
  var s = el("select");
  s.name = name;
  options.forEach(function (o) {
    var opt = el("option", o[1]);
    opt.value = String(o[0]);
    s.appendChild(opt);
  });
  return s;
}

function householdLabel(h) {
  var parts = [];
  if (h[1]) parts.push(h[1] + "单元");
  if (h[2]) parts.push(h[2] + "室");
  if (!parts.length) parts.push("住户 " + h[0]);
  if (h[3] === null || h[3] === undefined) return parts.join(" ");
  return parts.join(" ") + (h[3] > 0 ? "（逾期 " + h[3] + " 天）" : "（待走访）");
}

function visitForm(props, box) {
  box.textContent = "";
  var choices = data.households[String(props.id)] || [];
  var form = el("form", null, "gridmap-visit-form");
  form.appendChild(el("h3", "登记走访"));
  form.appendChild(el("label", "住户"));
  form.appendChild(select("household_id", choices.map(function (h) { return [h[0], householdLabel(h)]; })));
  form.appendChild(el("label", "类型"));
  form.appendChild(select("kind", data.kinds));
  form.appendChild(el("label", "备注"));
  var notes = el("textarea");
  notes.name = "notes";
  notes.maxLength = 2000;
  form.appendChild(notes);
  var submit = el("button", "提交走访");
  submit.type = "submit";
  form.appendChild(submit);
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = {
      client_id: uuid(),
      household_id: Number(form.elements.household_id.value),
      kind: form.elements.kind.value,
      visited_at: new Date().toISOString(),
      location: whereNow(props),
    };
    if (notes.value.trim()) body.notes = notes.value;
    var chosen = form.elements.household_id.selectedOptions[0];
    enqueue("visit", "/visits", body, "走访 " + (chosen ? chosen.textContent : body.household_id));
    map.closePopup();
  });
  box.appendChild(form);
}

function hazardForm(props, box) {
  box.textContent = "";
  var form = el("form", null, "gridmap-hazard-form");
  form.appendChild(el("h3", "上报隐患"));
  form.appendChild(el("label", "类别"));
  form.appendChild(select("category", data.categories));
  form.appendChild(el("label", "严重程度"));
  form.appendChild(select("severity", [["medium", "中"], ["high", "高"], ["low", "低"]]));
  form.appendChild(el("label", "描述"));
  var text = el("textarea");
  text.name = "description";
  text.required = true;
  text.maxLength = 2000;
  form.appendChild(text);
  var submit = el("button", "提交隐患");
  submit.type = "submit";
  form.appendChild(submit);
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!text.value.trim()) return;
    var body = {
      client_id: uuid(),
      category: form.elements.category.value,
      severity: form.elements.severity.value,
      location: whereNow(props),
      building_id: props.id,
      description: text.value,
    };
    enqueue("hazard", "/hazards", body, "隐患 " + (props.name || "楼栋 " + props.id));
    map.closePopup();
  });
  box.appendChild(form);
}

// The popup holds the form until it closes, then shows the building again (its content is a function, which
// Leaflet would call again on update()).
function showForm(layer, box) {
  var popup = layer.getPopup();
  popup.setContent(box);
  layer.once("popupclose", function () { popup.setContent(buildingPopup); });
}

function buildingPopup(layer) {
  var p = layer.feature.properties;
  var box = el("div", null, "gridmap-popup gridmap-building-popup");
  box.appendChild(el("h3", p.name || "楼栋 " + p.id));
  box.appendChild(table([
    ["状态", (data.status[p.status] || [p.status])[0]],
    ["户数", p.households],
    ["待走访", p.due],
    ["逾期", p.overdue],
    ["重点关爱户", p.care],
  ]));
  if (data.api === null || data.api === undefined) {
    box.appendChild(el("div", "文件版：请在 gridmap 网页中登记走访或上报隐患", "gridmap-note"));
    return box;
  }
  var visit = el("button", "登记走访");
  visit.type = "button";
  if (!(data.households[String(p.id)] || []).length) visit.disabled = true;
  // The button leaves the page when the form replaces it: stop the click here, or the map would take it for a
  // click on the map (its target no longer inside the popup) and close the popup.
  visit.addEventListener("click", function (ev) { L.DomEvent.stop(ev); visitForm(p, box); showForm(layer, box); });
  var hazard = el("button", "上报隐患");
  hazard.type = "button";
  hazard.addEventListener("click", function (ev) { L.DomEvent.stop(ev); hazardForm(p, box); showForm(layer, box); });
  box.appendChild(visit);
  box.appendChild(hazard);
  return box;
}

function casePopup(title, rows, description) {
  var box = el("div", null, "gridmap-popup");
  box.appendChild(el("h3", title));
  box.appendChild(table(rows));
  if (description) box.appendChild(el("div", description, "gridmap-description"));
  return box;
}

// --- layers -------------------------------------------------------------------------------------------------------

layers.grids = L.geoJSON(data.grids, {
  style: { color: "#1f4e99", weight: 2.5, fill: false, className: "gridmap-grid" },
  interactive: false,
});

layers.buildings = L.geoJSON(data.buildings, {
  style: function (f) {
    var c = (data.status[f.properties.status] || ["", "#9e9e9e"])[1];
    return { color: "#333", weight: 1, fillColor: c, fillOpacity: 0.75, className: "gridmap-building" };
  },
});
layers.buildings.eachLayer(function (layer) {
  // padding: the popup opens clear of the zoom and locate buttons on a narrow screen
  layer.bindPopup(buildingPopup, { maxWidth: 300, autoPanPaddingTopLeft: L.point(60, 10) });
});

var AWAITING_CHECK = ["rectified", "verified"];
layers.hazards = L.layerGroup(data.hazards.map(function (h) {
  var colour = (data.severity[h.severity] || ["", "#ef8a62"])[1];
  var m = L.circleMarker([h.lat, h.lon], {
    // by severity (colour) and state: the rectification done and awaiting its check drawn faint, overdue ringed black
    radius: 9, color: h.overdue ? "#000" : "#fff", weight: h.overdue ? 3 : 2, fillColor: colour,
    fillOpacity: AWAITING_CHECK.indexOf(h.state) >= 0 ? 0.4 : 0.95,
    className: "gridmap-hazard",
  });
  m.bindPopup(function () {
    return casePopup("隐患 " + (h.category_name || ""), [
      ["状态", h.state_label], ["严重程度", (data.severity[h.severity] || [h.severity])[0]],
      ["超期", h.overdue ? "是" : "否"],
    ], h.description);
  });
  return m;
}));

layers.requests = L.layerGroup(data.requests.map(function (r) {
  var m = L.circleMarker([r.lat, r.lon], {
    radius: 8, color: r.overdue ? "#000" : "#fff", weight: r.overdue ? 3 : 2, fillColor: "#6a3d9a", fillOpacity: 0.9,
    className: "gridmap-request",
  });
  m.bindPopup(function () {
    return casePopup("诉求 " + (r.service_name || ""), [["状态", r.state_label], ["超期", r.overdue ? "是" : "否"]],
      r.description);
  });
  return m;
}));

layers.tour = L.layerGroup();
(function () {
  var t = data.tour;
  if (!t.stops.length) return;
  var path = (t.start ? [t.start] : []).concat(t.stops.map(function (s) { return [s[0], s[1]]; }));
  L.polyline(path, { color: "#253494", weight: 4, opacity: 0.8, dashArray: "8 6", className: "gridmap-tour" })
    .addTo(layers.tour);
  t.stops.forEach(function (s, i) {
    L.marker([s[0], s[1]], {
      icon: L.divIcon({ className: "gridmap-stop", html: String(i + 1), iconSize: [20, 20] }),
      keyboard: false,
      interactive: false, // a tap goes through to the building below
    }).addTo(layers.tour);
  });
})();

var overlays = {};
["grids", "buildings", "tour", "hazards", "requests"].forEach(function (key) {
  layers[key].addTo(map);
  overlays[data.layers[key]] = layers[key];
});
L.control.layers(null, overlays, { collapsed: true }).addTo(map);

// --- the user's position ----------------------------------------------------------------------------------------

var here = L.layerGroup().addTo(map);
var Locate = L.Control.extend({
  options: { position: "topleft" },
  onAdd: function () {
    var div = L.DomUtil.create("div", "leaflet-bar gridmap-locate");
    var a = L.DomUtil.create("a", "", div);
    a.href = "#";
    a.title = "我的位置";
    a.setAttribute("role", "button");
    a.textContent = "◎";
    L.DomEvent.on(a, "click", function (e) {
      L.DomEvent.preventDefault(e);
      L.DomEvent.stopPropagation(e);
      map.locate({ setView: true, maxZoom: 18, enableHighAccuracy: true, timeout: 10000 });
    });
    return div;
  },
});
new Locate().addTo(map);
map.on("locationfound", function (e) {
  // the phone's position is WGS84 (sent as it is); drawn with the base's offset (GCJ-02 on AMap, else none)
  lastPosition = { lat: e.latlng.lat, lon: e.latlng.lng, at: Date.now() };
  var offset = data.display_offset || [0, 0];
  var drawn = L.latLng(e.latlng.lat + offset[0], e.latlng.lng + offset[1]);
  if (offset[0] || offset[1]) map.setView(drawn, map.getZoom());
  here.clearLayers();
  L.circle(drawn, { radius: e.accuracy, weight: 1, color: "#1f78b4", fillOpacity: 0.1, interactive: false })
    .addTo(here);
  L.circleMarker(drawn, { radius: 7, color: "#fff", weight: 2, fillColor: "#1f78b4", fillOpacity: 1,
                             className: "gridmap-here" }).addTo(here);
});
map.on("locationerror", function () { say("无法获取位置（使用楼栋位置登记）"); });

var Status = L.Control.extend({
  options: { position: "topright" },
  onAdd: function () {
    statusBox = L.DomUtil.create("div", "gridmap-queue");
    statusBox.setAttribute("aria-live", "polite");
    L.DomEvent.disableClickPropagation(statusBox);
    return statusBox;
  },
});
new Status().addTo(map);

window.addEventListener("online", flush);
window.setInterval(function () { if (readQueue().length) flush(); }, 30000);
say(pendingNote());
flush();

window.gridmapWorker = { map: map, layers: layers, data: data, queue: readQueue, flush: flush, send: sendOne };
