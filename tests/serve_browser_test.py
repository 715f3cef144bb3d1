"""serve_age's page in a real browser: headless Chromium driven by Selenium (Debian's chromium, chromium-driver and
python3-selenium; run with /usr/bin/python3, the interpreter that has them).

Starts serve_age on a free port, opens its page, uploads a group photo of ../shared/data/faces through the file
input, waits for the boxes, and checks that there is one box per face the API finds, each with its age written
beside it and a row in the table; saves a screenshot. Then a photo dropped on the page (a drop event carrying the
file), a photo without faces, and a file that is not an image. The browser's console must stay clean: the page
loads nothing from elsewhere (the server's Content-Security-Policy would refuse it, and say so there).

    /usr/bin/python3 tests/serve_browser_test.py SERVE_AGE OUT_DIR FACES_DIR LANDMARKS

Exits 77 (ctest: skipped) without Selenium, Chromium, its driver or the photos.
"""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

SKIP = 77


def skip(why):
    print(f"skipped: {why}")
    sys.exit(SKIP)


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


def start_server(serve_age, landmarks):
    """serve_age on a free port; its address from the first line it prints."""
    command = [serve_age, "--port", "0", "--threads", "2"]
    if not os.path.exists(landmarks):
        print(f"note: no landmark model at {landmarks} (scripts/get_pretrained.sh): box crops (--detect-face)")
        command.append("--detect-face")
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    match = re.search(r"listening on (http://[0-9.]+:[0-9]+/)", line)
    if not match:
        server.kill()
        fail(f"serve_age did not start: {line!r}")
    return server, match.group(1)


def api_faces(url, photo):
    """The faces POST /v1/predict finds in the photo: what the page must show."""
    with open(photo, "rb") as f:
        request = urllib.request.Request(url + "v1/predict", data=f.read(), headers={"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer)["faces"]


def wait_for_answer(driver, timeout=120):
    """Waits until the page has shown an answer or an error; returns the status element's state and text."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = driver.find_element("id", "status")
        state = status.get_attribute("data-state")
        if state in ("done", "error"):
            return state, status.text
        time.sleep(0.1)
    fail(f"no answer on the page after {timeout} s: {driver.find_element('id', 'status').text!r}")


def check_faces(driver, expected, what):
    """One box per face with its age label beside it, inside the photo, and one table row each."""
    boxes = driver.find_elements("css selector", "#boxes .face-box")
    labels = driver.find_elements("css selector", "#boxes .face-age")
    rows = driver.find_elements("css selector", "#faces tbody tr")
    ages = [f"{face['age']:.1f}" for face in expected]
    if not (len(boxes) == len(labels) == len(rows) == len(expected)):
        fail(f"{what}: {len(boxes)} boxes, {len(labels)} labels, {len(rows)} rows for {len(expected)} faces")
    shown = [label.text for label in labels]
    if shown != ages:
        fail(f"{what}: the ages beside the boxes are {shown}, the API says {ages}")
    photo = driver.find_element("id", "photo").rect
    for i, (box, label, row) in enumerate(zip(boxes, labels, rows)):
        b, l = box.rect, label.rect
        if not (box.is_displayed() and label.is_displayed()) or b["width"] < 4 or b["height"] < 4:
            fail(f"{what}: face {i + 1}'s box or label is not shown: {b}, {l}")
        inside = (b["x"] >= photo["x"] - 2 and b["y"] >= photo["y"] - 2 and
                  b["x"] + b["width"] <= photo["x"] + photo["width"] + 2 and
                  b["y"] + b["height"] <= photo["y"] + photo["height"] + 2)
        if not inside:
            fail(f"{what}: face {i + 1}'s box {b} is outside the photo {photo}")
        if abs(l["x"] - b["x"]) > 2 or abs(l["y"] + l["height"] - b["y"]) > 3:  # on the box's top-left corner
            fail(f"{what}: face {i + 1}'s age label {l} is not beside its box {b}")
        cells = [cell.text for cell in row.find_elements("tag name", "td")]
        if cells[1] != ages[i] or cells[2] != ", ".join(str(v) for v in expected[i]["box"]):
            fail(f"{what}: table row {i + 1} is {cells}, the API says {expected[i]}")


def main():
    serve_age, out_dir, faces_dir, landmarks = sys.argv[1:5]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip("no selenium for this Python (Debian: apt install python3-selenium; run with /usr/bin/python3)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        skip("no chromium or chromedriver (Debian: apt install chromium chromium-driver)")
    group, dropped, dogs = (os.path.join(faces_dir, name) for name in ("2008_002470.jpg", "2008_001009.jpg", "dogs.jpg"))
    if not all(os.path.exists(photo) for photo in (group, dropped, dogs)):
        skip(f"no photos in {faces_dir} (../shared)")
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)

    server, url = start_server(serve_age, landmarks)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1100,1000", "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.get(url)
        deadline = time.time() + 30
        while "loading" in driver.find_element("id", "model").text and time.time() < deadline:
            time.sleep(0.1)
        model = driver.find_element("id", "model").text
        if "mobilenet_v2" not in model:
            fail(f"the page does not describe the model: {model!r}")

        # A group photo through the file input.
        expected = api_faces(url, group)
        if len(expected) < 5:
            fail(f"the API finds {len(expected)} faces in {group}, expected the 6 predict_age finds")
        driver.find_element("id", "file").send_keys(os.path.abspath(group))
        state, text = wait_for_answer(driver)
        if state != "done" or f"{len(expected)} faces" not in text:
            fail(f"group photo: the page says {state}: {text!r}")
        check_faces(driver, expected, "group photo")
        screenshot = os.path.join(out_dir, "serve_page_group_photo.png")
        driver.save_screenshot(screenshot)
        print(f"ok: {len(expected)} faces boxed with their ages ({text}); screenshot {screenshot}")

        # A photo dropped on the page: a drop event carrying it, as the browser makes when a file is dropped.
        with open(dropped, "rb") as f:
            encoded = base64.b64encode(f.read()).decode()
        driver.execute_script("""
            const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], arguments[1], {type: "image/jpeg"}));
            document.body.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
        """, encoded, os.path.basename(dropped))
        state, text = wait_for_answer(driver)
        if state != "done" or os.path.basename(dropped) not in text:
            fail(f"dropped photo: the page says {state}: {text!r}")
        check_faces(driver, api_faces(url, dropped), "dropped photo")
        print(f"ok: dropped photo: {text}")

        # No face: said so, no box, no table.
        driver.find_element("id", "file").send_keys(os.path.abspath(dogs))
        state, text = wait_for_answer(driver)
        if state != "done" or "No face found" not in text:
            fail(f"dogs: the page says {state}: {text!r}")
        check_faces(driver, [], "dogs")
        if driver.find_element("id", "faces").is_displayed():
            fail("dogs: the face table is shown")
        print(f"ok: dogs: {text}")

        # Not an image: the server's error, shown as an error.
        not_image = os.path.join(out_dir, "not_an_image.txt")
        with open(not_image, "w") as f:
            f.write("not a photo\n")
        driver.find_element("id", "file").send_keys(not_image)
        state, text = wait_for_answer(driver)
        if state != "error" or "unsupported content type" not in text:
            fail(f"a text file: the page says {state}: {text!r}")
        print(f"ok: a text file: {text}")

        # The console: nothing refused (a Content-Security-Policy violation is logged as SEVERE), no script error;
        # only the 415 the text file was meant to get.
        problems = [entry["message"] for entry in driver.get_log("browser")
                    if entry["level"] == "SEVERE" and "status of 415" not in entry["message"]]
        if problems:
            fail(f"the browser's console has errors: {problems}")
        print("ok: the console has no errors")
    finally:
        driver.quit()
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    if code != 0:
        fail(f"serve_age exited with {code} on SIGTERM")
    print("ok: serve_age stopped cleanly on SIGTERM")


if __name__ == "__main__":
    main()
