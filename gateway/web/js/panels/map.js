// World map of mentions per country: d3-geo + topojson-client + world-atlas, vendored and
// loaded from this server, so it works offline.

import { NUMERIC } from '../countries.js';
import { count } from '../format.js';

const ATLAS = new URL('../../vendor/world-atlas-2.0.2/countries-110m.json', import.meta.url);
const SVG = 'http://www.w3.org/2000/svg';

/** The map panel. */
export class WorldMap {
  constructor(root) {
    this.root = root;
    this.paths = new Map();
    this.names = new Map();
    this.ready = this.load().catch(() => {
      root.textContent = 'The map could not be loaded.';
    });
  }

  async load() {
    const response = await fetch(ATLAS);
    const atlas = await response.json();
    const countries = topojson.feature(atlas, atlas.objects.countries);
    const projection = d3.geoEqualEarth().fitExtent([[4, 4], [956, 476]], { type: 'Sphere' });
    const path = d3.geoPath(projection);
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 960 480');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'Mentions per country');
    const sphere = document.createElementNS(SVG, 'path');
    sphere.setAttribute('class', 'sphere');
    sphere.setAttribute('d', path({ type: 'Sphere' }));
    svg.append(sphere);
    for (const feature of countries.features) {
      const node = document.createElementNS(SVG, 'path');
      node.setAttribute('class', 'country');
      node.setAttribute('d', path(feature));
      node.setAttribute('fill', '#1d2a3b');
      const title = document.createElementNS(SVG, 'title');
      title.textContent = feature.properties.name;
      node.append(title);
      svg.append(node);
      this.paths.set(feature.id, { node, title, name: feature.properties.name });
      this.names.set(feature.id, feature.properties.name);
    }
    const legend = document.createElement('div');
    legend.className = 'legend';
    legend.append('fewer', Object.assign(document.createElement('span'), { className: 'ramp' }), 'more mentions');
    this.root.replaceChildren(svg, legend);
  }

  /** The country name of an alpha-2 code, once the atlas is loaded. */
  nameOf(alpha2) {
    return this.names.get(NUMERIC[alpha2]);
  }

  /** Colours countries by their mentions (square-root scale: one country dominates). */
  update(countries) {
    const max = Math.max(1, ...countries.map((c) => c.count));
    const byId = new Map(countries.map((c) => [NUMERIC[c.country], c.count]));
    for (const [id, { node, title, name }] of this.paths) {
      const n = byId.get(id) || 0;
      const t = n ? Math.sqrt(n / max) : 0;
      node.setAttribute('fill', n ? mix(t) : '#1d2a3b');
      title.textContent = n ? `${name}: ${count(n)} mentions` : name;
    }
  }
}

/** From a dark blue to the accent blue. */
function mix(t) {
  const a = [0x24, 0x3a, 0x55];
  const b = [0x4e, 0xa1, 0xff];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * (0.15 + 0.85 * t)));
  return `rgb(${c.join(',')})`;
}
