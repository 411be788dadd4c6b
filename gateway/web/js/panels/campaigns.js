// Campaigns of both ad platforms in one sortable table.

import { count, money, percent, el } from '../format.js';

const PLATFORM = { meta: 'Meta', google_ads: 'Google Ads' };

const COLUMNS = [
  { key: 'campaign_name', label: 'Campaign', text: true },
  { key: 'impressions', label: 'Impressions', fmt: (c) => count(c.impressions) },
  { key: 'clicks', label: 'Clicks', fmt: (c) => count(c.clicks) },
  { key: 'ctr', label: 'CTR', fmt: (c) => percent(c.ctr, 2) },
  { key: 'spend', label: 'Spend', fmt: (c) => money(c.spend, c.currency) },
  { key: 'cpc', label: 'CPC', fmt: (c) => money(c.cpc, c.currency, 2) },
  { key: 'cpm', label: 'CPM', fmt: (c) => money(c.cpm, c.currency, 2) },
  { key: 'conversions', label: 'Conversions', fmt: (c) => count(c.conversions) },
  { key: 'cpa', label: 'CPA', fmt: (c) => money(c.cpa, c.currency, 2) },
  { key: 'budget_pacing', label: 'Pacing' },
];

/** The campaigns table. */
export class CampaignTable {
  constructor(table) {
    this.table = table;
    this.sort = { key: 'spend', dir: -1 };
    this.rows = [];
  }

  update(campaigns) {
    this.rows = campaigns || [];
    this.render();
  }

  render() {
    const { key, dir } = this.sort;
    const rows = [...this.rows].sort((a, b) => {
      const x = a[key];
      const y = b[key];
      if (typeof x === 'string') return dir * x.localeCompare(y);
      return dir * ((x ?? -Infinity) - (y ?? -Infinity));
    });
    const head = el('tr');
    for (const col of COLUMNS) {
      const th = el('th', col.text ? 'text' : null);
      th.scope = 'col';
      if (col.key === key) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      const button = el('button', null, col.label);
      button.type = 'button';
      button.addEventListener('click', () => {
        this.sort = { key: col.key, dir: this.sort.key === col.key ? -this.sort.dir : (col.text ? 1 : -1) };
        this.render();
      });
      th.append(button);
      head.append(th);
    }
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    if (rows.length === 0) {
      const tr = el('tr');
      const td = el('td', 'empty', 'No campaign reports yet.');
      td.colSpan = COLUMNS.length;
      tr.append(td);
      tbody.append(tr);
    }
    for (const c of rows) {
      const tr = el('tr');
      for (const col of COLUMNS) {
        const td = el('td', col.text ? 'text' : null);
        if (col.key === 'campaign_name') {
          td.append(el('span', 'platform', PLATFORM[c.platform] || c.platform), document.createTextNode(c.campaign_name));
        } else if (col.key === 'budget_pacing') {
          td.append(pacing(c.budget_pacing));
        } else {
          td.textContent = col.fmt(c);
        }
        tr.append(td);
      }
      tbody.append(tr);
    }
    this.table.replaceChildren(thead, tbody);
  }
}

function pacing(value) {
  const wrap = el('span');
  if (value === null || value === undefined) {
    wrap.textContent = '—';
    return wrap;
  }
  const bar = el('span', 'pacing');
  const fill = el('span');
  fill.style.width = `${Math.min(100, value * 100)}%`;
  bar.append(fill);
  wrap.append(bar, document.createTextNode(percent(value, 0)));
  wrap.title = 'Spend against the daily budget so far';
  return wrap;
}
