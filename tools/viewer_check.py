#!/usr/bin/env python3
"""Drives the attention viewer (viewer.html) in real headless Chromium over the DevTools protocol
and checks what it draws; optionally screenshots it. Python standard library only.

    viewer_check.py --chromium chromium PAGE.html                 # drive and check; exit 1 on a failure
    viewer_check.py --chromium chromium PAGE.html --screenshot OUT.png --hash '#ex=2&layer=3&head=4'

The protocol runs over --remote-debugging-pipe (file descriptors 3 and 4, NUL-terminated JSON):
no port, no websocket code, nothing to clean up if the script dies. Keys are real key events
(Input.dispatchKeyEvent), clicks real mouse events, so the page's own handlers do the work.
"""
import argparse
import base64
import fcntl
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time


class Chromium:
    def __init__(self, binary, width, height):
        self.profile = tempfile.TemporaryDirectory(prefix="viewer-check-")
        to_child_r, self.to_child_w = os.pipe()
        self.from_child_r, from_child_w = os.pipe()
        # Numbers above 4 for the child's ends, so the redirections below never overwrite one another.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_child_r, from_child_w)]
        os.close(to_child_r)
        os.close(from_child_w)
        to_child_r, from_child_w = high

        arguments = [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                     "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
                     "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
                     f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}", "about:blank"]
        # The pipe ends become the child's descriptors 3 (commands in) and 4 (replies out) through a shell's
        # redirections, the one step that cannot clash with the numbers the parent's own descriptors have.
        shell = f'exec "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-'
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(["bash", "-c", shell, "bash"] + arguments, pass_fds=(to_child_r, from_child_w),
                                        stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_child_w, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while time.time() < deadline:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)
        raise TimeoutError(f"{method}: no reply in {timeout} s")

    def receive(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_child_r, 1 << 20)
            if not chunk:
                self.log.seek(0)
                tail = self.log.read().decode(errors="replace").strip().splitlines()[-15:]
                raise RuntimeError("chromium closed the DevTools pipe; its last output:\n" + "\n".join(tail))
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url, width, height):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ["Page", "Runtime", "Network", "Log"]:
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
        self.send("Page.navigate", {"url": url})
        self.wait("document.querySelector('section.bv-viewer') && document.querySelector('section.bv-viewer').dataset.ready === 'true'")

    def wait(self, condition, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.evaluate(f"!!({condition})"):
                return
            time.sleep(0.05)
        raise TimeoutError(f"the page never satisfied: {condition}")

    KEYS = {"ArrowLeft": ("ArrowLeft", 37), "ArrowRight": ("ArrowRight", 39), "ArrowUp": ("ArrowUp", 38),
            "ArrowDown": ("ArrowDown", 40), "j": ("KeyJ", 74), "k": ("KeyK", 75), "a": ("KeyA", 65)}

    def key(self, key):
        code, virtual = self.KEYS[key]
        down = {"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": virtual, "nativeVirtualKeyCode": virtual}
        if len(key) == 1:
            down["text"] = key
        self.send("Input.dispatchKeyEvent", down)
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": virtual})

    def click(self, selector):
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                            " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        for kind in ["mousePressed", "mouseReleased"]:
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        pathlib.Path(path).write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.profile.cleanup()


STATE = """(() => {
  const s = document.querySelector('section.bv-viewer');
  const svgs = [...s.querySelectorAll('svg.bv-map')];
  return {
    example: +s.dataset.example, layer: +s.dataset.layer, head: +s.dataset.head, view: s.dataset.view, hash: location.hash,
    maps: svgs.map(m => ({model: m.dataset.model, tokens: +m.dataset.tokens, pattern: m.dataset.pattern,
      layer: +m.dataset.layer, head: +m.dataset.head, cells: m.querySelectorAll('rect.bv-cell').length,
      x: [...m.querySelectorAll('text.bv-xtok')].map(t => t.textContent),
      y: [...m.querySelectorAll('text.bv-ytok')].map(t => t.textContent)})),
    badges: [...s.querySelectorAll('.bv-figure .bv-pattern')].map(b => [b.dataset.model, b.textContent]),
    types: [...s.querySelectorAll('.bv-type')].map(t => [t.dataset.model, t.querySelector('.bv-badge').textContent]),
    selected: [...s.querySelectorAll('table.bv-grid td.bv-selected')].map(td => [+td.dataset.layer, +td.dataset.head]),
    grid: [...s.querySelectorAll('table.bv-grid td')].length,
    ablation: s.querySelector('.bv-ablation').textContent,
    thumbs: [...s.querySelectorAll('.bv-thumb')].map(f => ({head: +f.dataset.head, selected: f.classList.contains('bv-selected'),
      patterns: f.dataset.patterns, canvases: f.querySelectorAll('canvas').length})),
    text: s.querySelector('.bv-text').textContent,
  };
})()"""


class Checker:
    def __init__(self, browser, data):
        self.browser, self.data, self.failures, self.checks = browser, data, [], 0

    def expect(self, condition, message):
        self.checks += 1
        if not condition:
            self.failures.append(message)
            print(f"FAIL: {message}", file=sys.stderr)

    def state(self):
        return self.browser.evaluate(STATE)

    def pattern(self, model, example, layer, head):
        maps = self.data[model]
        return self.data["pattern_names"][maps["patterns"][example - 1][(layer - 1) * self.data["heads"] + head - 1]]

    def check_drawn(self, expected, step):
        """The state (1-based example, layer, head, view) and everything drawn for it, against the data."""
        example, layer, head, view = expected
        s = self.state()
        self.expect((s["example"], s["layer"], s["head"], s["view"]) == expected,
                    f"{step}: state {(s['example'], s['layer'], s['head'], s['view'])}, expected {expected}")
        self.expect(s["hash"].endswith(f"ex={example}&layer={layer}&head={head}&view={view}"), f"{step}: hash {s['hash']}")
        tokens = self.data["examples"][example - 1]["tokens"]
        models = ["pretrained"] + (["finetuned"] if self.data.get("finetuned") else [])
        self.expect(s["grid"] == self.data["layers"] * self.data["heads"], f"{step}: grid has {s['grid']} cells")
        self.expect(self.data["examples"][example - 1]["text_a"] in s["text"], f"{step}: the example's text is not shown")
        self.expect(s["types"] == [[m, self.pattern(m, example, layer, head)] for m in models], f"{step}: pattern types {s['types']}")
        if view == "head":
            self.expect(s["selected"] == [[layer, head]], f"{step}: highlighted grid cells {s['selected']}")
            self.expect([m["model"] for m in s["maps"]] == models, f"{step}: maps drawn {[m['model'] for m in s['maps']]}")
            for m in s["maps"]:
                where = f"{step} ({m['model']})"
                self.expect(m["tokens"] == len(tokens) and m["cells"] == len(tokens) ** 2,
                            f"{where}: {m['cells']} cells for {len(tokens)} tokens")
                self.expect(m["x"] == tokens and m["y"] == tokens, f"{where}: axis labels {m['x'][:5]}... are not the tokens {tokens[:5]}...")
                self.expect((m["layer"], m["head"]) == (layer, head), f"{where}: map of L{m['layer']}-H{m['head']}")
                self.expect(m["pattern"] == self.pattern(m["model"], example, layer, head), f"{where}: pattern {m['pattern']}")
            self.expect(s["badges"] == [[m, self.pattern(m, example, layer, head)] for m in models], f"{step}: badges {s['badges']}")
            self.expect(not s["thumbs"], f"{step}: thumbnails in the one-head view")
        else:
            self.expect(not s["maps"], f"{step}: full maps in the all-heads view")
            self.expect([t["head"] for t in s["thumbs"]] == list(range(1, self.data["heads"] + 1)), f"{step}: thumbnails {s['thumbs']}")
            self.expect([t["head"] for t in s["thumbs"] if t["selected"]] == [head], f"{step}: selected thumbnail")
            for t in s["thumbs"]:
                self.expect(t["canvases"] == len(models), f"{step}: H{t['head']} has {t['canvases']} canvases")
                self.expect(t["patterns"] == ",".join(self.pattern(m, example, layer, t["head"]) for m in models),
                            f"{step}: H{t['head']} patterns {t['patterns']}")
            self.expect(s["selected"] == [[layer, h] for h in range(1, self.data["heads"] + 1)], f"{step}: highlighted grid cells {s['selected']}")
        scores = self.data.get("head_scores")
        if scores:
            value = scores["scores"][layer - 1][head - 1]
            self.expect(f"{value:.4f}" in s["ablation"].replace("\u2212", "-") and scores["metric"] in s["ablation"],
                        f"{step}: ablation text {s['ablation']!r} lacks {scores['metric']} {value:.4f}")


def drive(browser, url, data):
    check = Checker(browser, data)
    layers, heads, examples = data["layers"], data["heads"], len(data["examples"])
    browser.open(url + "#ex=1&layer=1&head=1", 1400, 1000)
    check.check_drawn((1, 1, 1, "head"), "opened at #ex=1&layer=1&head=1")
    browser.key("ArrowRight")
    check.check_drawn((1, 1, 2, "head"), "ArrowRight")
    browser.key("ArrowDown")
    check.check_drawn((1, 2, 2, "head"), "ArrowDown")
    browser.key("j")
    check.check_drawn((2, 2, 2, "head"), "j")
    browser.key("k")
    browser.key("k")
    check.check_drawn((examples, 2, 2, "head"), "k k (wraps to the last example)")
    browser.key("ArrowLeft")
    browser.key("ArrowLeft")
    check.check_drawn((examples, 2, heads, "head"), "ArrowLeft x2 (wraps to the last head)")
    browser.key("ArrowUp")
    browser.key("ArrowUp")
    check.check_drawn((examples, layers, heads, "head"), "ArrowUp x2 (wraps to the last layer)")
    browser.key("a")
    check.check_drawn((examples, layers, heads, "layer"), "a (all heads of the layer)")
    browser.click(".bv-thumb[data-head='1']")
    check.check_drawn((examples, layers, 1, "head"), "click on the H1 thumbnail")
    browser.click(f"table.bv-grid td[data-layer='1'][data-head='{heads}']")
    check.check_drawn((examples, 1, heads, "head"), f"click on grid cell L1-H{heads}")
    target = (min(3, examples), min(2, layers), min(3, heads))
    browser.evaluate(f"location.hash = '#ex={target[0]}&layer={target[1]}&head={target[2]}&view=layer'")
    browser.wait(f"document.querySelector('section.bv-viewer').dataset.example === '{target[0]}'")
    check.check_drawn(target + ("layer",), "hash #ex=3&layer=2&head=3&view=layer")
    browser.key("a")
    check.check_drawn(target + ("head",), "a (back to one head)")
    browser.evaluate("document.querySelector('select.bv-example').focus()")
    browser.key("ArrowDown")  # the select's own key: the viewer leaves it alone
    browser.evaluate("document.activeElement.blur()")
    state = check.state()
    check.expect(state["layer"] == target[1], "ArrowDown in the example menu changed the layer")
    # Nothing fetched but the page itself; no script error.
    requests = [e["params"]["request"]["url"] for e in browser.events if e["method"] == "Network.requestWillBeSent"]
    check.expect(all(u.startswith("file://") for u in requests), f"network requests: {requests}")
    errors = [e for e in browser.events if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    check.expect(not errors, f"errors on the page: {errors}")
    return check


def drive_two(browser, html, folder):
    """Two viewers on one page (as in a report with several tasks): keys go to the one last clicked, and
    the address names it (v=<id>)."""
    check = Checker(browser, None)
    start, end = html.index('<section class="bv-viewer"'), html.index("</section>") + len("</section>")
    section = html[start:end]
    first = section.split('id="', 1)[1].split('"', 1)[0]
    second = section.replace(f'id="{first}"', f'id="{first}-b"', 1)
    page = pathlib.Path(folder) / "two-viewers.html"
    page.write_text(html[:end] + "\n" + second + html[end:], encoding="utf-8")
    browser.open(page.as_uri(), 1400, 1000)
    browser.wait("[...document.querySelectorAll('section.bv-viewer')].every(s => s.dataset.ready === 'true')")
    states = "[...document.querySelectorAll('section.bv-viewer')].map(s => [s.id, +s.dataset.layer, +s.dataset.head])"
    browser.key("ArrowRight")
    check.expect(browser.evaluate(states) == [[first, 1, 2], [f"{first}-b", 1, 1]], f"two viewers, first active: {browser.evaluate(states)}")
    browser.click(f"#{first}-b table.bv-grid td[data-layer='2'][data-head='1']")
    browser.key("ArrowRight")
    check.expect(browser.evaluate(states) == [[first, 1, 2], [f"{first}-b", 2, 2]], f"two viewers, second clicked: {browser.evaluate(states)}")
    hash_ = browser.evaluate("location.hash")
    check.expect(hash_.startswith(f"#v={first}-b&ex=1&layer=2&head=2"), f"two viewers: hash {hash_}")
    browser.evaluate(f"location.hash = '#v={first}&ex=2&layer=2&head=3&view=head'")
    browser.wait(f"document.getElementById('{first}').dataset.example === '2'")
    check.expect(browser.evaluate(states) == [[first, 2, 3], [f"{first}-b", 2, 2]], f"two viewers, hash for the first: {browser.evaluate(states)}")
    return check


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("page")
    parser.add_argument("--chromium", default="chromium")
    parser.add_argument("--screenshot", help="write a PNG of the viewer (scrolled to the top of the window) at --hash "
                        "instead of checking")
    parser.add_argument("--hash", default="#ex=1&layer=1&head=1")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    arguments = parser.parse_args()
    page = pathlib.Path(arguments.page).resolve()
    html = page.read_text(encoding="utf-8")
    start = html.index('<script type="application/json" class="bv-data">') + len('<script type="application/json" class="bv-data">')
    data = json.loads(html[start:html.index("</script>", start)])
    browser = Chromium(arguments.chromium, arguments.width, arguments.height)
    try:
        if arguments.screenshot:
            browser.open(page.as_uri() + arguments.hash, arguments.width, arguments.height)
            browser.evaluate("document.activeElement && document.activeElement.blur()")
            # A report page holds the viewer below its tables: bring the viewer to the top of the window.
            browser.evaluate("document.querySelector('section.bv-viewer').scrollIntoView()")
            browser.screenshot(arguments.screenshot)
            print(f"viewer-check: wrote {arguments.screenshot}")
            return 0
        check = drive(browser, page.as_uri(), data)
        with tempfile.TemporaryDirectory(prefix="viewer-check-pages-") as folder:
            two = drive_two(browser, html, folder)
        check.checks += two.checks
        check.failures += two.failures
    finally:
        browser.close()
    if check.failures:
        print(f"viewer-check: {len(check.failures)} of {check.checks} checks failed", file=sys.stderr)
        return 1
    print(f"viewer-check: {check.checks} checks passed ({len(data['examples'])} examples, {data['layers']} layers x {data['heads']} heads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
