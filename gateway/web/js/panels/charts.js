// Time series with uPlot (vendored, global `uPlot`): mentions per minute stacked by
// sentiment, and sentiment over 24 h / 7 d.

const COLORS = { negative: '#f0574d', neutral: '#8a96a8', positive: '#35b46a', accent: '#4ea1ff' };
const AXIS = { stroke: '#8d9bb0', grid: { stroke: '#263244', width: 1 }, ticks: { stroke: '#263244' } };

function width(root) {
  return Math.max(280, Math.floor(root.getBoundingClientRect().width));
}

/** Keeps a chart as wide as its box. */
function fit(root, chart) {
  const observer = new ResizeObserver(() => chart.setSize({ width: width(root), height: chart.height }));
  observer.observe(root);
}

/**
 * Mentions per minute over the last hour, stacked negative / neutral / positive. uPlot does
 * not stack: each series is drawn as the running total, tallest first, and the legend
 * shows each part's own value.
 */
export class VolumeChart {
  constructor(root) {
    this.root = root;
    this.parts = [[], [], []];
    const bars = uPlot.paths.bars({ size: [0.8, 40] });
    const part = (i) => (u, v, si, idx) => (idx === null || idx === undefined ? '—' : String(this.parts[i][idx] ?? 0));
    this.chart = new uPlot({
      width: width(root),
      height: 230,
      legend: { live: true },
      cursor: { points: { show: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(5, max * 1.1)] } },
      axes: [{ ...AXIS }, { ...AXIS, size: 46 }],
      series: [
        {},
        { label: 'Positive', fill: COLORS.positive, stroke: COLORS.positive, paths: bars, points: { show: false }, value: part(2) },
        { label: 'Neutral', fill: COLORS.neutral, stroke: COLORS.neutral, paths: bars, points: { show: false }, value: part(1) },
        { label: 'Negative', fill: COLORS.negative, stroke: COLORS.negative, paths: bars, points: { show: false }, value: part(0) },
      ],
    }, [[], [], [], []], root);
    fit(root, this.chart);
  }

  /** `times` in seconds; `negative`, `positive` and `total` per minute. */
  update(times, total, negative, positive) {
    const neutral = total.map((t, i) => Math.max(0, t - (negative[i] || 0) - (positive[i] || 0)));
    this.parts = [negative, neutral, positive];
    const negNeu = negative.map((n, i) => n + neutral[i]);
    this.chart.setData([times, total, negNeu, negative]);
  }
}

/** Average sentiment (left axis) and negative share (right axis) per hour. */
export class TrendChart {
  constructor(root) {
    this.root = root;
    this.chart = new uPlot({
      width: width(root),
      height: 230,
      cursor: { points: { size: 6 } },
      scales: { x: { time: true }, s: { range: [-1, 1] }, share: { range: [0, 100] } },
      axes: [
        { ...AXIS },
        { ...AXIS, scale: 's', size: 46, values: (u, v) => v.map((x) => x.toFixed(1)) },
        { ...AXIS, scale: 'share', side: 1, size: 46, grid: { show: false }, values: (u, v) => v.map((x) => `${x}%`) },
      ],
      series: [
        {},
        { label: 'Average sentiment', scale: 's', stroke: COLORS.accent, width: 2, spanGaps: false,
          value: (u, v) => (v === null || v === undefined ? '—' : v.toFixed(2)) },
        { label: 'Negative share', scale: 'share', stroke: COLORS.negative, width: 1.5, dash: [4, 3],
          value: (u, v) => (v === null || v === undefined ? '—' : `${v.toFixed(1)}%`) },
      ],
    }, [[], [], []], root);
    fit(root, this.chart);
  }

  /** From a window's hourly volume points. */
  update(points) {
    const times = points.map((p) => Date.parse(p.at) / 1000);
    const avg = points.map((p) => (p.count ? p.avg_sentiment : null));
    const share = points.map((p) => (p.count ? (100 * (p.negative || 0)) / p.count : null));
    this.chart.setData([times, avg, share]);
  }
}
