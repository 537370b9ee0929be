/*
 * smtpmon live page. Polls the JSON API of `smtpmon serve` every few seconds and draws the
 * counts, charts (SVG made here) and alerts. Everything that comes from logs (domains,
 * reasons, samples, alert texts) is attacker-controlled: it is inserted only as text
 * (textContent, createTextNode), never as markup.
 */
'use strict';

(function () {
  var POLL_MS = 5000;
  var MINUTES = 180;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var m = /^\/agent\/([A-Za-z0-9._-]+)$/.exec(window.location.pathname);
  var agent = m ? m[1] : null;

  // el('td', {class: 'n', 'data-key': k}, 'text', child...): attributes are set one by one,
  // strings become text nodes.
  function el(tag, attrs) {
    var e = document.createElement(tag);
    var k, i, c;
    for (k in attrs || {}) {
      if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    }
    for (i = 2; i < arguments.length; i++) {
      c = arguments[i];
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    }
    return e;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }
  function byId(id) { return document.getElementById(id); }
  function num(n) { return (n || 0).toLocaleString('en-US'); }
  function bytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }
  function age(s) {
    if (s === null || s === undefined) return 'never';
    if (s < 120) return Math.round(s) + ' s ago';
    if (s < 7200) return Math.round(s / 60) + ' min ago';
    return Math.round(s / 3600) + ' h ago';
  }
  function hhmm(ms) {
    var d = new Date(ms);
    return ('0' + d.getUTCHours()).slice(-2) + ':' + ('0' + d.getUTCMinutes()).slice(-2);
  }
  function getJSON(url) {
    return fetch(url, {cache: 'no-store', credentials: 'same-origin'}).then(function (r) {
      if (!r.ok) {
        return r.text().then(function (t) { throw new Error(url + ': ' + r.status + ' ' + t); });
      }
      return r.json();
    });
  }

  function kpis(c) {
    var by = c.by || {};
    var ds = by.direction_subject || {};
    var oc = by.outcome || {};
    var list = [
      ['lines', 'lines read', c.lines, false],
      ['matched', 'classified lines', c.matched, false],
      ['unmatched', 'unmatched with a code', c.unmatched_with_code, c.unmatched_with_code > 0],
      ['deferred', 'deferred', oc.deferred || 0, false],
      ['bounced', 'bounced', oc.bounced || 0, false],
      ['out57', 'outbound 5.7.x', ds['outbound/5.7'] || 0, (ds['outbound/5.7'] || 0) > 0],
      ['in57', 'inbound 5.7.x', ds['inbound/5.7'] || 0, false]
    ];
    var box = clear(byId('kpis'));
    list.forEach(function (k) {
      box.appendChild(el('div', {'class': 'kpi' + (k[3] ? ' bad' : '')},
        el('span', {'class': 'label'}, k[1]),
        el('span', {'class': 'v', id: 'kpi-' + k[0], 'data-value': k[2] || 0}, num(k[2]))));
    });
  }

  function topTable(id, obj, max) {
    var body = clear(byId(id).tBodies[0]);
    var keys = Object.keys(obj || {}).sort(function (a, b) {
      return obj[b] - obj[a] || (a < b ? -1 : a > b ? 1 : 0);
    }).slice(0, max);
    var top = keys.length ? obj[keys[0]] : 1;
    if (!keys.length) body.appendChild(el('tr', {}, el('td', {'class': 'empty'}, 'none')));
    keys.forEach(function (k) {
      var fill = el('div', {'class': 'fill'});
      fill.style.width = Math.max(1, Math.round(100 * obj[k] / top)) + '%';
      body.appendChild(el('tr', {'data-key': k, 'data-count': obj[k]},
        el('td', {'class': 'k'}, k), el('td', {'class': 'n'}, num(obj[k])),
        el('td', {'class': 'bar'}, fill)));
    });
  }

  function alertText(a) {
    var j = null;
    try { j = a.json ? JSON.parse(a.json) : null; } catch (e) { j = null; }
    var parts = [];
    function first(o) {
      var k = Object.keys(o || {});
      return k.length ? k[0] + ' (' + o[k[0]] + ')' : null;
    }
    if (j) {
      if (j.time) parts.push(j.time);
      if (j.count !== undefined) parts.push(j.count + ' in ' + Math.round((j.window_s || 0) / 60) + ' min');
      if (first(j.top_status)) parts.push('status ' + first(j.top_status));
      if (first(j.top_reason)) parts.push('reason ' + first(j.top_reason));
      if (first(j.top_domain)) parts.push('domain ' + first(j.top_domain));
      if (j.since) parts.push('since ' + j.since);
    }
    return parts.join(', ');
  }

  function alerts(al) {
    var f = clear(byId('alerts-firing'));
    var r = clear(byId('alerts-recent'));
    (al.firing || []).forEach(function (a) {
      var j = null;
      try { j = a.cause && a.cause.json ? JSON.parse(a.cause.json) : null; } catch (e) { j = null; }
      f.appendChild(el('li', {'class': 'alert', 'data-agent': a.agent, 'data-rule': a.rule},
        el('strong', {}, a.rule), ' on ' + a.agent + (a.cause ? ': ' + alertText(a.cause) : ''),
        j && j.sample ? el('div', {'class': 'sample'}, j.sample) : null));
    });
    if (!f.firstChild) f.appendChild(el('li', {'class': 'empty'}, 'none'));
    (al.recent || []).slice(0, 20).forEach(function (a) {
      r.appendChild(el('li', {'class': a.type === 'recovery' ? 'recovery' : 'alert',
                              'data-agent': a.agent, 'data-rule': a.rule || '', 'data-type': a.type || ''},
        el('strong', {}, (a.type || '?') + ' ' + (a.rule || '?')), ' on ' + a.agent + ': ' + alertText(a)));
    });
    if (!r.firstChild) r.appendChild(el('li', {'class': 'empty'}, 'none'));
  }

  // list: [{agent, text}] (the fleet: each agent's samples), or the agent's strings.
  function samples(c, list) {
    var u = clear(byId('samples'));
    var n = byId('unmatched-count');
    n.textContent = num(c.unmatched_with_code);
    n.setAttribute('data-value', c.unmatched_with_code || 0);
    (list || []).forEach(function (s) {
      if (typeof s === 'string') {
        u.appendChild(el('li', {'class': 'sample'}, s));
      } else {
        u.appendChild(el('li', {'class': 'sample', 'data-agent': s.agent}, s.text));
      }
    });
    if (!u.firstChild) u.appendChild(el('li', {'class': 'empty'}, 'no sample'));
  }

  function agentsTable(list) {
    var body = clear(byId('agents').tBodies[0]);
    list.slice().sort(function (a, b) {
      return b.firing.length - a.firing.length || b.lag_total - a.lag_total || (a.id < b.id ? -1 : 1);
    }).forEach(function (a) {
      body.appendChild(el('tr', {'data-agent': a.id, 'class': a.firing.length ? 'firing' : ''},
        el('td', {}, el('a', {href: '/agent/' + encodeURIComponent(a.id)}, a.id)),
        el('td', {'class': 'n', 'data-value': a.lines}, num(a.lines)),
        el('td', {'class': 'n', 'data-value': a.unmatched_with_code}, num(a.unmatched_with_code)),
        el('td', {'class': 'n', 'data-value': a.outbound_5_7}, num(a.outbound_5_7)),
        el('td', {'class': 'n', 'data-value': a.lag_total}, bytes(a.lag_total)),
        el('td', {'data-value': a.commit_age_s === null ? '' : a.commit_age_s}, age(a.commit_age_s)),
        el('td', {}, a.firing.join(', ') || '-')));
    });
    if (!list.length) body.appendChild(el('tr', {}, el('td', {'class': 'empty'}, 'no agent')));
  }

  // A line chart of series [{name, cls, values}] over the minutes ts (ms), drawn as SVG.
  function chart(id, ts, series) {
    var box = clear(byId(id));
    // drawn at the box's own width, so that the labels keep their size
    var W = Math.max(280, Math.round(box.clientWidth || 600)), H = 160, L = 40, B = 18, T = 6, R = 6;
    var max = 1;
    series.forEach(function (s) { s.values.forEach(function (v) { if (v > max) max = v; }); });
    var s = svg('svg', {viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': id});
    s.appendChild(svg('line', {'class': 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B}));
    s.appendChild(svg('line', {'class': 'axis', x1: L, y1: T, x2: L, y2: H - B}));
    function label(x, y, text, anchor) {
      var t = svg('text', {x: x, y: y, 'text-anchor': anchor});
      t.textContent = text;
      s.appendChild(t);
    }
    label(L - 4, T + 8, String(max), 'end');
    label(L - 4, H - B, '0', 'end');
    if (ts.length) {
      label(L, H - 4, hhmm(ts[0]), 'start');
      label(W - R, H - 4, hhmm(ts[ts.length - 1]) + ' UTC', 'end');
    }
    var n = Math.max(ts.length - 1, 1);
    series.forEach(function (se) {
      var pts = se.values.map(function (v, i) {
        return (L + (W - L - R) * i / n).toFixed(1) + ',' + (H - B - (H - B - T) * v / max).toFixed(1);
      });
      var p = svg('polyline', {'class': 's-' + se.cls, points: pts.join(' '),
                               'data-series': se.name, 'data-last': se.values.length ? se.values[se.values.length - 1] : 0});
      s.appendChild(p);
    });
    box.appendChild(s);
    var leg = el('div', {'class': 'legend'});
    series.forEach(function (se) {
      var sum = se.values.reduce(function (a, b) { return a + b; }, 0);
      leg.appendChild(el('span', {'class': 'k' + se.key, 'data-series': se.name, 'data-sum': sum},
        '\u25a0 ' + se.name + ' (' + num(sum) + ')'));
    });
    box.appendChild(leg);
  }

  function charts(series) {
    var pts = series.points || [];
    var ts = pts.map(function (p) { return Number(p.t); });
    function field(f) { return pts.map(function (p) { return Number(p.f[f] || 0); }); }
    chart('chart-class', ts, [
      {name: '2xx', cls: 'class_2', key: '2', values: field('class_2')},
      {name: '4xx', cls: 'class_4', key: '4', values: field('class_4')},
      {name: '5xx', cls: 'class_5', key: '5', values: field('class_5')}]);
    chart('chart-57', ts, [
      {name: 'outbound 5.7.x', cls: 'out57', key: '5', values: field('ds|outbound|5.7')},
      {name: 'inbound 5.7.x', cls: 'in57', key: 'in', values: field('ds|inbound|5.7')}]);
    chart('chart-deferred', ts, [
      {name: 'deferred', cls: 'deferred', key: '4', values: field('deferred')}]);
  }

  function counts(c, list) {
    if (!c) return;
    var by = c.by || {};
    kpis(c);
    topTable('top-reason', by.reason, 10);
    topTable('top-status', by.status, 10);
    topTable('top-domain', by.domain, 10);
    topTable('top-outcome', by.outcome, 10);
    topTable('top-direction_subject', by.direction_subject, 10);
    samples(c, list);
  }

  function status(text, state) {
    var s = byId('status');
    s.textContent = text;
    s.setAttribute('data-state', state);
  }

  function poll() {
    var main = agent ? getJSON('/api/agent/' + encodeURIComponent(agent)) : getJSON('/api/summary');
    var series = getJSON('/api/series?agent=' + encodeURIComponent(agent || 'fleet') + '&minutes=' + MINUTES);
    Promise.all([main, series]).then(function (r) {
      var d = r[0];
      if (agent) {
        counts(d.counts, d.counts.unmatched_samples);
        agentsTable([{id: d.id, lines: d.counts.lines, unmatched_with_code: d.counts.unmatched_with_code,
                      outbound_5_7: (d.counts.by.direction_subject || {})['outbound/5.7'] || 0,
                      lag_total: d.lag_total, commit_age_s: d.commit_age_s,
                      firing: (d.alerts.firing || []).map(function (a) { return a.rule; })}]);
      } else {
        counts(d.fleet || {lines: 0, matched: 0, unmatched_with_code: 0, by: {}}, d.samples);
        agentsTable(d.agents || []);
      }
      alerts(d.alerts || {});
      charts(r[1]);
      status('updated ' + new Date().toISOString().slice(11, 19) + ' UTC', 'ok');
      document.body.setAttribute('data-loaded', String(Number(document.body.getAttribute('data-loaded') || 0) + 1));
    }).catch(function (e) {
      status('cannot read: ' + e.message, 'error');
    }).then(function () {
      window.setTimeout(poll, POLL_MS);
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    byId('scope').textContent = agent ? 'agent ' + agent : 'fleet';
    document.title = 'smtpmon \u2014 ' + (agent || 'fleet');
    if (agent) byId('agents-card').querySelector('h2').textContent = 'Agent';
    poll();
  });
}());
