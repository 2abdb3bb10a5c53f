"""The page's stylesheet and the two small scripts behind clickable citations and the source panel."""

from __future__ import annotations

# js_on_load of every gr.HTML holding clickable items: a click on an element with data-action
# becomes the component's "click" event, carrying the action and the passage it points at.
CLICK_JS = """
element.addEventListener('click', (event) => {
  const item = event.target.closest('[data-action]');
  if (!item || !element.contains(item)) return;
  event.preventDefault();
  if (item.dataset.confirm && !window.confirm(item.dataset.confirm)) return;
  trigger('click', {action: item.dataset.action, source: item.dataset.source || '',
                    start: item.dataset.start ?? null, end: item.dataset.end ?? null,
                    quotes: item.dataset.quotes ?? null});
});
"""

# The conversation keeps the newest question at the top of its scroll area while it streams.
CHAT_JS = CLICK_JS + """
watch('value', () => {
  const chat = element.querySelector('.vb-chat');
  const last = chat && chat.querySelector('.vb-turn:last-child');
  if (last) chat.scrollTop = last.offsetTop - 8;
});
"""

# The source panel scrolls its text so the highlighted passage is in view, without moving the page.
PANEL_JS = CLICK_JS + """
watch('value', () => {
  const pane = element.querySelector('.vb-doc');
  if (!pane) return;
  const mark = pane.querySelector('mark.vb-quote') || pane.querySelector('mark');
  pane.scrollTop = mark ? Math.max(0, mark.offsetTop - pane.clientHeight / 4) : 0;
  const box = element.getBoundingClientRect();
  if (box.top < 0 || box.top > window.innerHeight) element.scrollIntoView({block: 'start'});
});
"""

CSS = """
.gradio-container { max-width: 1480px !important; }
#vb-header { padding: 4px 2px 0; }
#vb-header h1 { margin: 0; font-size: 1.55rem; font-weight: 700; letter-spacing: -0.01em; }
#vb-header .vb-tagline { margin: 2px 0 0; color: var(--body-text-color-subdued); }
#vb-header .vb-status { margin-top: 6px; font-size: .85rem; color: var(--body-text-color-subdued); }
#vb-header .vb-status b { color: var(--body-text-color); }

.vb-chat { position: relative; overflow-y: auto; min-height: 260px; max-height: calc(100vh - 360px);
  padding: 4px 6px 4px 2px; scroll-behavior: auto; }
.vb-turn { margin-bottom: 22px; }
.vb-msg { display: flex; flex-direction: column; gap: 4px; margin: 8px 0; }
.vb-who { font-size: .75rem; font-weight: 600; text-transform: uppercase; letter-spacing: .06em;
  color: var(--body-text-color-subdued); }
.vb-body { white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.55; }
.vb-user .vb-body { background: var(--color-accent-soft); border-radius: 10px; padding: 9px 13px;
  align-self: flex-start; max-width: 100%; }
.vb-answer { font-size: 1.02rem; }
.vb-streaming::after { content: '▍'; animation: vb-blink 1s steps(1) infinite; margin-left: 1px; }
@keyframes vb-blink { 50% { opacity: 0; } }
.vb-wait { color: var(--body-text-color-subdued); font-style: italic; }
.vb-error { border-left: 3px solid #dc2626; padding: 6px 10px; background: rgba(220,38,38,.07); border-radius: 4px; }
.vb-badge { display: inline-block; align-self: flex-start; font-size: .78rem; font-weight: 600; padding: 2px 9px;
  border-radius: 999px; background: rgba(217,119,6,.13); color: #92400e; }
.vb-badge-error { background: rgba(220,38,38,.12); color: #991b1b; }
.vb-meta { font-size: .8rem; color: var(--body-text-color-subdued); }
button.vb-cite { display: inline; border: 0; padding: 0 3px; margin: 0 1px; border-radius: 4px; cursor: pointer;
  font: inherit; font-size: .85em; font-weight: 600; color: var(--color-accent);
  background: var(--color-accent-soft); vertical-align: baseline; }
button.vb-cite:hover, button.vb-cite:focus-visible { background: var(--color-accent); color: white; }
.vb-unsupported { color: #b45309; cursor: help; }

.vb-sources { margin-top: 10px; display: flex; flex-direction: column; gap: 8px; }
.vb-sources h4 { margin: 4px 0 0; font-size: .8rem; text-transform: uppercase; letter-spacing: .06em;
  color: var(--body-text-color-subdued); }
.vb-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 9px 12px;
  background: var(--background-fill-secondary); }
button.vb-card-head { all: unset; cursor: pointer; display: block; font-weight: 600; }
button.vb-card-head:hover .vb-title, button.vb-card-head:focus-visible .vb-title { text-decoration: underline; }
button.vb-card-head:focus-visible { outline: 2px solid var(--color-accent); outline-offset: 2px; border-radius: 3px; }
.vb-n { color: var(--color-accent); }
.vb-where { font-size: .78rem; color: var(--body-text-color-subdued); margin: 2px 0 6px; }
.vb-file { font-family: var(--font-mono); }
.vb-score { font-family: var(--font-mono); }
blockquote.vb-text { margin: 0; padding: 0 0 0 10px; border-left: 3px solid var(--border-color-primary);
  white-space: pre-wrap; font-size: .88rem; line-height: 1.5; max-height: 9.5em; overflow: auto; }
details.vb-more > summary { cursor: pointer; font-size: .85rem; color: var(--body-text-color-subdued); margin: 4px 0; }
details.vb-more .vb-card { margin-top: 8px; }
.vb-empty { padding: 26px 18px; border: 1px dashed var(--border-color-primary); border-radius: 10px;
  color: var(--body-text-color-subdued); }
.vb-empty h3 { margin-top: 0; color: var(--body-text-color); }

#vb-side { position: sticky; top: 8px; align-self: flex-start; }
.vb-panel { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 12px 14px;
  background: var(--background-fill-primary); }
.vb-panel-head h3 { margin: 0 0 2px; font-size: 1.05rem; }
.vb-path { font-family: var(--font-mono); font-size: .74rem; color: var(--body-text-color-subdued);
  overflow-wrap: anywhere; }
#vb-panel a.vb-original { display: inline-block; margin: 8px 0 0; padding: 3px 10px !important; font-size: .8rem;
  border: 1px solid var(--border-color-primary); border-radius: 6px; text-decoration: none;
  color: var(--color-accent); background: var(--background-fill-primary); }
#vb-panel a.vb-original:hover, #vb-panel a.vb-original:focus-visible { border-color: var(--color-accent); }
.vb-note { font-size: .8rem; color: #92400e; margin: 8px 0 0; }
.vb-doc { position: relative; margin-top: 10px; border: 1px solid var(--border-color-primary); white-space: pre-wrap; overflow-wrap: anywhere; overflow-y: auto;
  max-height: calc(100vh - 330px); min-height: 200px; font-size: .88rem; line-height: 1.55;
  padding: 10px 12px; border-radius: 6px; background: var(--background-fill-secondary); }
.vb-doc mark { background: #fde68a; color: #1f2937; border-radius: 2px; padding: 1px 0;
  box-shadow: 0 0 0 2px #fde68a; }
.vb-doc mark mark.vb-quote, .vb-text mark.vb-quote { background: #f59e0b; color: #111827; box-shadow: none;
  font-weight: 600; border-bottom: 2px solid #b45309; }
.vb-text mark.vb-quote { border-radius: 2px; padding: 0 1px; }
.vb-context { display: flex; flex-direction: column; gap: 6px; margin-top: 10px; }
button.vb-context-card { all: unset; cursor: pointer; display: block; padding: 7px 10px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); font-size: .8rem; }
button.vb-context-card:hover, button.vb-context-card:focus-visible { border-color: var(--color-accent); }
.vb-context-label { display: block; font-weight: 600; color: var(--body-text-color-subdued); margin-bottom: 2px; }
.vb-panel-empty { color: var(--body-text-color-subdued); margin: 30px 6px; text-align: center; }

#vb-documents table.vb-docs { width: 100%; border-collapse: collapse; font-size: .88rem; border: 0; margin: 0; }
#vb-documents table.vb-docs tr, #vb-documents table.vb-docs th, #vb-documents table.vb-docs td {
  border-left: 0; border-right: 0; border-top: 0; }
table.vb-docs th { white-space: nowrap; background: transparent; text-align: left; font-size: .75rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--body-text-color-subdued); border-bottom: 1px solid var(--border-color-primary); padding: 6px 8px; }
table.vb-docs td { border-bottom: 1px solid var(--border-color-primary); padding: 7px 8px; vertical-align: top; }
table.vb-docs .vb-num { text-align: right; font-variant-numeric: tabular-nums; }
table.vb-docs .vb-date { white-space: nowrap; font-variant-numeric: tabular-nums; }
table.vb-docs .vb-actions { white-space: nowrap; width: 9em; }
table.vb-docs .vb-actions .vb-btn { display: block; width: 100%; margin: 0 0 4px; text-align: left; }
button.vb-link { all: unset; cursor: pointer; font-weight: 600; color: var(--color-accent); }
button.vb-link:hover, button.vb-link:focus-visible { text-decoration: underline; }
.vb-type { font-family: var(--font-mono); font-size: .75rem; padding: 1px 6px; border-radius: 4px;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
button.vb-btn { cursor: pointer; font: inherit; font-size: .8rem; padding: 3px 9px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); }
button.vb-btn:hover { border-color: var(--color-accent); }
button.vb-danger { color: #b91c1c; }
button.vb-danger:hover { border-color: #b91c1c; background: rgba(220,38,38,.06); }
.vb-table-empty { padding: 18px; color: var(--body-text-color-subdued); text-align: center; }
#vb-pager { align-items: center; }
#vb-page-label { text-align: center; font-size: .85rem; color: var(--body-text-color-subdued); }
#vb-sync-note { font-size: .8rem; color: var(--body-text-color-subdued); margin: -4px 2px 8px; }

.vb-report h4 { margin: 0 0 6px; font-size: .8rem; text-transform: uppercase; letter-spacing: .06em;
  color: var(--body-text-color-subdued); }
.vb-chips { display: flex; flex-wrap: wrap; gap: 6px; }
.vb-chip { font-size: .8rem; padding: 2px 9px; border-radius: 999px; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); }
.vb-chip-zero { opacity: .55; }
.vb-chip-added:not(.vb-chip-zero) { background: rgba(22,163,74,.1); border-color: rgba(22,163,74,.35); }
.vb-chip-failed:not(.vb-chip-zero) { background: rgba(220,38,38,.1); border-color: rgba(220,38,38,.35); }
.vb-totals { font-size: .8rem; color: var(--body-text-color-subdued); margin: 6px 0 0; }
.vb-when { margin-left: 6px; white-space: nowrap; }
.vb-scope-note { margin: 6px 0; font-size: .85rem; padding: 6px 10px; border-left: 3px solid var(--color-accent); }
table.vb-failed { margin-top: 8px; font-size: .8rem; width: 100%; border-collapse: collapse; table-layout: fixed; }
table.vb-failed td.vb-path { width: 40%; overflow-wrap: break-word; word-break: normal; }
table.vb-failed td, table.vb-failed th { text-align: left; padding: 4px 6px;
  border-bottom: 1px solid var(--border-color-primary); vertical-align: top; }
"""
