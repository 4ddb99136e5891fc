// A line chart over time (uPlot): one per quantity on the overview. The chart is made once
// and given new data as it arrives; it follows its box's width.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Line {
  label: string;
  values: (number | null)[];
}

const COLOURS = ["#2f6fb2", "#b2542f", "#23863a", "#8a3fb2", "#b2912f", "#2fa3b2"];

export function Chart({ id, title, unit, x, lines, max }: {
  id: string;
  title: string;
  unit: string;
  /** Unix seconds. */
  x: number[];
  lines: Line[];
  /** A fixed top of the scale (100 for percentages). */
  max?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = lines.map((l) => l.label).join("|");

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: 160,
      scales: { y: max !== undefined ? { range: [0, max] } : { range: (_u, lo, hi) => [Math.min(0, lo), Math.max(hi * 1.1, 1)] } },
      axes: [{}, { size: 48, values: (_u, ticks) => ticks.map((t) => `${t}${unit}`) }],
      series: [{}, ...lines.map((l, i) => ({ label: l.label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: false }))],
      legend: { show: lines.length > 1 },
    };
    plot.current?.destroy();
    plot.current = new uPlot(opts, [x, ...lines.map((l) => l.values)] as uPlot.AlignedData, el);
    const onResize = () => plot.current?.setSize({ width: Math.max(el.clientWidth, 200), height: 160 });
    addEventListener("resize", onResize);
    return () => {
      removeEventListener("resize", onResize);
      plot.current?.destroy();
      plot.current = null;
    };
    // A new set of lines needs a new chart; new points only new data (below).
  }, [shape, unit, max]);

  useEffect(() => {
    plot.current?.setData([x, ...lines.map((l) => l.values)] as uPlot.AlignedData);
  }, [x, lines]);

  return (
    <figure class="chart" id={id}>
      <figcaption>
        {title} <span class="muted">{x.length} points</span>
      </figcaption>
      <div ref={box} />
    </figure>
  );
}
