// A live grid of one data table: rows appear, change and disappear as anyone inserts,
// updates or deletes them; a BULK change (an import, a field change) or a reconnect
// refetches. Cells are edited in place with the row's version as `expectedVersion`, so a
// row someone else changed meanwhile answers CONFLICT instead of being overwritten.
import type { Api } from "./api";
import { ApiError } from "./api";
import type { Live } from "./live";
import { describe } from "./messages";

/** A field of the table, as the grid needs it. */
export interface Field {
  key: string;
  label: string;
  type: string;
}

/** A row: its values by field key, and the version an edit must name. */
export interface Row {
  id: string;
  values: Record<string, unknown>;
  version: number;
}

const ROW = "id values version";
const TABLE = `query Table($id: ID!) { dataTable(id: $id) { id name fields { key label type } rows(first: 500) { nodes { ${ROW} } } } }`;
const CHANGES = `subscription RowChanges($tableId: ID!, $after: String) { rowChanges(tableId: $tableId, after: $after) { kind rowId cursor row { ${ROW} } } }`;
const INSERT = `mutation InsertRow($tableId: ID!, $rows: [JSON!]!) { insertRows(tableId: $tableId, rows: $rows) { ${ROW} } }`;
const UPDATE = `mutation EditRow($id: ID!, $values: JSON!, $expectedVersion: Int) { updateRow(id: $id, values: $values, expectedVersion: $expectedVersion) { ${ROW} } }`;
const DELETE = "mutation DeleteRow($ids: [ID!]!) { deleteRows(ids: $ids) }";

interface RowChange {
  kind: "CREATED" | "UPDATED" | "DELETED" | "BULK";
  rowId: string | null;
  cursor: string | null;
  row: Row | null;
}

/** The grid's parts on the page. */
export interface GridView {
  title: HTMLElement;
  table: HTMLTableElement;
  form: HTMLFormElement;
  problem: HTMLElement;
}

/** One table shown live; `onRows` hears every change of the rows (the chart). */
export class Grid {
  private fields: Field[] = [];
  private rows = new Map<string, Row>();
  /** The row whose cell is being edited: its line stays as it is until the edit ends. */
  private editing: string | null = null;
  private stop: (() => void) | null = null;

  constructor(
    private readonly api: Api,
    private readonly live: Live,
    private readonly tableId: string,
    private readonly view: GridView,
    private readonly onRows: (fields: Field[], rows: Row[]) => void,
  ) {}

  /** Follows the table's changes, then loads it: a change made while it loads is either
   * in what is loaded or heard (rows keep their newest version either way). */
  async start(): Promise<void> {
    this.stop = this.live.subscribe<{ rowChanges: RowChange }>({
      query: CHANGES,
      variables: (after) => ({ tableId: this.tableId, after }),
      cursorOf: (data) => data.rowChanges.cursor,
      onData: (data) => this.apply(data.rowChanges),
      onError: (error) => this.failed(error),
    });
    await this.reload();
    this.renderForm();
  }

  /** Stops following the table. */
  close(): void {
    this.stop?.();
  }

  /** Fetches every row again (after a reconnect or a BULK change). */
  async reload(): Promise<void> {
    const data = await this.api.query<{
      dataTable: { name: string; fields: Field[]; rows: { nodes: Row[] } } | null;
    }>(TABLE, { id: this.tableId });
    if (!data.dataTable) throw new ApiError("no such table", "NOT_FOUND");
    this.view.title.textContent = data.dataTable.name;
    this.fields = data.dataTable.fields;
    const heard = this.rows;
    this.rows = new Map(data.dataTable.rows.nodes.map((row) => [row.id, row]));
    heard.forEach((row) => this.rows.has(row.id) && this.keep(row));
    this.render();
  }

  private apply(change: RowChange): void {
    if (change.kind === "BULK") {
      this.reload().catch((error) => this.failed(error));
      return;
    }
    if (change.kind === "DELETED") {
      if (change.rowId) this.rows.delete(change.rowId);
    } else if (change.row) {
      this.keep(change.row);
    }
    this.render();
  }

  /** Keeps `row` unless a newer version of it is already here. */
  private keep(row: Row): void {
    const known = this.rows.get(row.id);
    if (!known || known.version <= row.version) this.rows.set(row.id, row);
  }

  private render(): void {
    const head = document.createElement("tr");
    for (const field of this.fields) {
      const cell = document.createElement("th");
      cell.textContent = field.label;
      head.append(cell);
    }
    head.append(document.createElement("th"));
    // A row being edited keeps its line, never detached (its input keeps focus), and the
    // version the edit started from, so a change someone else makes meanwhile answers
    // CONFLICT instead of eating the edit.
    const editing = [...this.view.table.rows].find((line) => line.dataset.rowId === this.editing);
    const lines = [...this.rows.values()].map((row) =>
      editing && row.id === this.editing ? editing : this.renderRow(row),
    );
    const at = editing ? lines.indexOf(editing) : -1;
    if (editing && at >= 0) {
      [...this.view.table.children].forEach((child) => child !== editing && child.remove());
      editing.before(head, ...lines.slice(0, at));
      this.view.table.append(...lines.slice(at + 1));
    } else {
      // The row being edited, if any, is gone: so is the edit.
      this.editing = null;
      this.view.table.replaceChildren(head, ...lines);
    }
    this.onRows(this.fields, [...this.rows.values()]);
  }

  private renderRow(row: Row): HTMLTableRowElement {
    const line = document.createElement("tr");
    line.dataset.rowId = row.id;
    for (const field of this.fields) {
      const cell = document.createElement("td");
      cell.dataset.key = field.key;
      cell.textContent = shown(row.values[field.key]);
      if (field.type !== "FORMULA") {
        cell.classList.add("editable");
        cell.onclick = () => this.edit(cell, row, field);
      }
      line.append(cell);
    }
    const actions = document.createElement("td");
    const remove = document.createElement("button");
    remove.textContent = "Delete";
    remove.onclick = async () => {
      try {
        await this.api.mutate(DELETE, { ids: [row.id] });
        this.rows.delete(row.id);
        this.render();
      } catch (error) {
        this.failed(error);
      }
    };
    actions.append(remove);
    line.append(actions);
    return line;
  }

  private edit(cell: HTMLTableCellElement, row: Row, field: Field): void {
    if (this.editing) return;
    this.editing = row.id;
    const input = document.createElement("input");
    input.value = shown(row.values[field.key]);
    cell.replaceChildren(input);
    input.focus();
    let done = false;
    const save = async () => {
      if (done) return;
      done = true;
      try {
        const value = parsed(field, input.value);
        const data = await this.api.mutate<{ updateRow: Row }>(UPDATE, {
          id: row.id,
          values: { [field.key]: value },
          expectedVersion: row.version,
        });
        this.keep(data.updateRow);
        this.view.problem.textContent = "";
      } catch (error) {
        this.failed(error);
        if (error instanceof ApiError && error.code === "CONFLICT") {
          this.editing = null;
          await this.reload();
        }
      }
      this.editing = null;
      this.render();
    };
    input.onkeydown = (event) => {
      if (event.key === "Enter") void save();
      if (event.key === "Escape") {
        done = true;
        this.editing = null;
        this.render();
      }
    };
    input.onblur = () => void save();
  }

  private renderForm(): void {
    const inputs = this.fields
      .filter((field) => field.type !== "FORMULA")
      .map((field) => {
        const input = document.createElement("input");
        input.name = field.key;
        input.placeholder = field.label;
        input.setAttribute("aria-label", field.label);
        return input;
      });
    const add = document.createElement("button");
    add.type = "submit";
    add.textContent = "Add row";
    this.view.form.replaceChildren(...inputs, add);
    this.view.form.onsubmit = async (event) => {
      event.preventDefault();
      try {
        const values: Record<string, unknown> = {};
        for (const input of inputs) {
          const field = this.fields.find((f) => f.key === input.name);
          if (field && input.value !== "") values[field.key] = parsed(field, input.value);
        }
        const data = await this.api.mutate<{ insertRows: Row[] }>(INSERT, {
          tableId: this.tableId,
          rows: [values],
        });
        data.insertRows.forEach((row) => this.keep(row));
        inputs.forEach((input) => (input.value = ""));
        this.view.problem.textContent = "";
        this.render();
      } catch (error) {
        this.failed(error);
      }
    };
  }

  private failed(error: unknown): void {
    this.view.problem.textContent = describe(error);
  }
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

/** The JSON value a field takes from what was typed ("" clears it). */
function parsed(field: Field, text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  switch (field.type) {
    case "INTEGER":
    case "DECIMAL": {
      const number = Number(trimmed);
      return Number.isNaN(number) ? trimmed : number;
    }
    case "BOOLEAN":
      return ["true", "yes", "1"].includes(trimmed.toLowerCase());
    case "MULTI_SELECT":
      return trimmed.split(",").map((option) => option.trim());
    default:
      return trimmed;
  }
}
