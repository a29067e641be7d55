/**
 * Connected regions of a score map at or above a level (8-connected): where a spec's defect kind is,
 * how big and how sure. The map is the model's output grid in wafer mm (row 0 at the top).
 */
export interface Region {
  /** score-weighted centre, wafer mm */
  xMm: number;
  yMm: number;
  /** largest extent: the farthest-apart cells' centres plus one cell */
  sizeMm: number;
  /** highest score in the region */
  score: number;
  cells: number;
}

export interface MapGeometry {
  size: number;
  cellMm: number;
  /** x of the left edge and y of the top edge, mm */
  x0: number;
  y0: number;
}

export function regions(map: Float32Array, g: MapGeometry, level: number, offset = 0): Region[] {
  const N = g.size;
  const seen = new Uint8Array(N * N);
  const out: Region[] = [];
  const stack: number[] = [];
  for (let start = 0; start < N * N; start++) {
    if (seen[start] || map[offset + start] < level) continue;
    seen[start] = 1;
    stack.push(start);
    const members: number[] = [];
    while (stack.length) {
      const c = stack.pop()!;
      members.push(c);
      const r = Math.floor(c / N);
      const k = c - r * N;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dk = -1; dk <= 1; dk++) {
          const rr = r + dr;
          const kk = k + dk;
          if (rr < 0 || kk < 0 || rr >= N || kk >= N) continue;
          const n = rr * N + kk;
          if (!seen[n] && map[offset + n] >= level) {
            seen[n] = 1;
            stack.push(n);
          }
        }
      }
    }
    let sw = 0;
    let sx = 0;
    let sy = 0;
    let best = 0;
    const pts = members.map((c) => {
      const r = Math.floor(c / N);
      const k = c - r * N;
      const x = g.x0 + (k + 0.5) * g.cellMm;
      const y = g.y0 - (r + 0.5) * g.cellMm;
      const w = map[offset + c] - level + 1e-6;
      sw += w;
      sx += w * x;
      sy += w * y;
      best = Math.max(best, map[offset + c]);
      return [x, y] as const;
    });
    let far = 0;
    for (let i = 0; i < pts.length; i++) for (let j = i + 1; j < pts.length; j++) far = Math.max(far, Math.hypot(pts[i][0] - pts[j][0], pts[i][1] - pts[j][1]));
    out.push({ xMm: sx / sw, yMm: sy / sw, sizeMm: far + g.cellMm, score: best, cells: members.length });
  }
  return out.sort((a, b) => b.score - a.score);
}
