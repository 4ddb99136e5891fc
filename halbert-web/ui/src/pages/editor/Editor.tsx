// Config files: open one by path, edit it, review the diff, save it with the version it was
// read at (a file changed meanwhile is shown as a conflict, never overwritten), and list and
// restore its backups. halbertd does the checks; this page shows what it says.
import { useEffect, useState } from "preact/hooks";
import { hashParam } from "../../route";
import { api, ApiError, q, type Backup, type FileView, type WriteResult } from "../../api";
import { diffLines, lines, type DiffLine } from "../../diff";

type Notice = { kind: "ok" | "error" | "conflict"; text: string } | null;

function describe(e: unknown): string {
  if (e instanceof ApiError && e.body.action) return `${e.message} (polkit action ${e.body.action})`;
  return (e as Error).message;
}

export function Editor({ setContext }: { setContext?: (page: string, context: string) => void }) {
  const [path, setPath] = useState(hashParam("path") ?? "");
  const [file, setFile] = useState<FileView | null>(null);
  // What chat is told when a question starts from here: the file open (not its content).
  useEffect(() => {
    if (file && setContext)
      setContext("editor", `Editing ${file.path} (${file.language}, ${file.size} bytes, mode ${file.mode}, owner ${file.owner})`);
  }, [file]);
  const [text, setText] = useState("");
  const [review, setReview] = useState<DiffLine[] | null | "too-large">(null);
  const [notice, setNotice] = useState<Notice>(null);
  const [backups, setBackups] = useState<Backup[]>([]);
  const [busy, setBusy] = useState(false);

  const loadBackups = async (p: string) => {
    try {
      setBackups((await api<{ backups: Backup[] }>(`/api/editor/backups?path=${q(p)}`)).backups);
    } catch {
      setBackups([]);
    }
  };

  const open = async (p: string, keepNotice = false) => {
    if (!p) return;
    setBusy(true);
    try {
      const f = await api<FileView>(`/api/editor/file?path=${q(p)}`);
      setFile(f);
      setText(f.content);
      setReview(null);
      if (!keepNotice) setNotice(null);
      history.replaceState(null, "", `#/editor?path=${q(p)}`);
      await loadBackups(f.path);
    } catch (e) {
      setFile(null);
      setBackups([]);
      setNotice({ kind: "error", text: describe(e) });
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    if (path) open(path);
  }, []);

  const changed = file !== null && text !== file.content;

  const showReview = () => {
    if (!file) return;
    const d = diffLines(lines(file.content), lines(text));
    setReview(d ?? "too-large");
  };

  const save = async () => {
    if (!file) return;
    setBusy(true);
    try {
      const r = await api<WriteResult>("/api/editor/file", { path: file.path, content: text, version: file.version });
      const saved = `Saved. ${r.backup_id ? `The previous content is backup ${r.backup_id}.` : "It is a new file."}`;
      await open(file.path, true);
      setNotice({ kind: "ok", text: saved });
    } catch (e) {
      if (e instanceof ApiError && e.code === "conflict") {
        setNotice({
          kind: "conflict",
          text: `${file.path} changed on disk since you opened it, so it was not saved. Your edit is still here: copy what you need, then reload the file to see what is there now.`,
        });
      } else {
        setNotice({ kind: "error", text: describe(e) });
      }
    } finally {
      setBusy(false);
    }
  };

  const restore = async (b: Backup) => {
    if (!file || !confirm(`Write backup ${b.backup_id} back to ${file.path}? The current content is backed up first.`)) return;
    setBusy(true);
    try {
      const r = await api<WriteResult>("/api/editor/restore", { path: file.path, backup: b.backup_id });
      await open(file.path, true);
      setNotice({ kind: "ok", text: `Restored ${b.backup_id}. The content it replaced is backup ${r.backup_id}.` });
    } catch (e) {
      setNotice({ kind: "error", text: describe(e) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section id="editor" class="panel">
      <h2>Config files</h2>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          open(path.trim());
        }}
      >
        <input id="editor-path" placeholder="/etc/samba/smb.conf" value={path} onInput={(e) => setPath(e.currentTarget.value)} />
        <button id="editor-open" disabled={busy || !path.trim()}>
          Open
        </button>
      </form>
      {notice && (
        <p id="editor-notice" class={`notice ${notice.kind}`} role="status">
          {notice.text}
        </p>
      )}
      {notice?.kind === "conflict" && file && (
        <button id="editor-reload" onClick={() => open(file.path)}>
          Reload the file (drops your edit)
        </button>
      )}
      {file && (
        <>
          <p id="editor-meta" class="muted">
            {file.path} · {file.owner}:{file.group} {file.mode} · {file.size} bytes · modified {file.modified ?? "?"} ·{" "}
            {file.language}
            {file.needs_sudo ? " · writing it needs administrator rights (polkit asks)" : ""}
          </p>
          <textarea
            id="editor-content"
            spellcheck={false}
            rows={18}
            value={text}
            onInput={(e) => {
              setText(e.currentTarget.value);
              setReview(null);
            }}
          />
          <div class="row">
            <button id="editor-review" disabled={!changed || busy} onClick={showReview}>
              Review changes
            </button>
            <button id="editor-save" disabled={!changed || busy || review === null} onClick={save}>
              Save
            </button>
            <button disabled={!changed || busy} onClick={() => (setText(file.content), setReview(null))}>
              Discard edit
            </button>
          </div>
          {review === "too-large" && <p class="muted">Too many lines changed to show them one by one.</p>}
          {Array.isArray(review) && (
            <pre id="editor-diff" class="diff">
              {review.map((l, i) => (
                <div key={i} class={l.kind === "+" ? "add" : l.kind === "-" ? "del" : ""}>
                  {l.kind} {l.text}
                </div>
              ))}
              {file.content.endsWith("\n") !== text.endsWith("\n") && (
                <div class="muted">{text.endsWith("\n") ? "+ a final newline" : "- the final newline"}</div>
              )}
            </pre>
          )}
          <h3>Backups</h3>
          {backups.length === 0 ? (
            <p class="muted">No backups of this file yet: one is taken before every save and restore.</p>
          ) : (
            <table id="editor-backups">
              <thead>
                <tr>
                  <th>Backup</th>
                  <th>Taken</th>
                  <th>Why</th>
                  <th>Size</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {backups.map((b) => (
                  <tr key={b.backup_id}>
                    <td>{b.backup_id}</td>
                    <td>{b.timestamp}</td>
                    <td>{b.label}</td>
                    <td>{b.size} B</td>
                    <td>
                      <button class="restore" disabled={busy} onClick={() => restore(b)}>
                        Restore
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
