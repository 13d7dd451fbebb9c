// A small chart of the table's first number field summed per day of its first date
// field, redrawn on every change of the rows.
import {
  CategoryScale,
  Chart,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

import type { Field, Row } from "./grid";

Chart.register(CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip);

const NUMBER_TYPES = ["INTEGER", "DECIMAL"];

/** The chart on `canvas`, with `note` saying what it shows (or why nothing). */
export class RowChart {
  private chart: Chart<"line", number[], string> | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly note: HTMLElement,
  ) {}

  show(fields: Field[], rows: Row[]): void {
    const date = fields.find((field) => field.type === "DATE");
    const number = fields.find((field) => NUMBER_TYPES.includes(field.type));
    if (!date || !number) {
      this.note.textContent = "This table has no date and number fields to chart.";
      this.chart?.destroy();
      this.chart = null;
      return;
    }
    const totals = new Map<string, number>();
    for (const row of rows) {
      const day = row.values[date.key];
      const value = Number(row.values[number.key]);
      if (typeof day !== "string" || Number.isNaN(value)) continue;
      totals.set(day, (totals.get(day) ?? 0) + value);
    }
    const days = [...totals.keys()].sort();
    this.note.textContent = `${number.label} by ${date.label}`;
    const data = {
      labels: days,
      datasets: [
        {
          label: number.label,
          data: days.map((day) => totals.get(day) ?? 0),
          borderColor: "#2f6fde",
          backgroundColor: "#2f6fde",
        },
      ],
    };
    if (this.chart) {
      this.chart.data = data;
      this.chart.update();
    } else {
      this.chart = new Chart(this.canvas, {
        type: "line",
        data,
        options: { animation: false, maintainAspectRatio: false },
      });
    }
  }
}
