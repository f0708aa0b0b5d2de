"""Profiles (issue 12) without a broker: every built-in profile validates
against schemas/profile.schema.json, and what each returns on the fixture
pages validates against the schema's description of its data (the field
names users rely on), through the same code scrape runs (tools/extract_run)."""

import json
import os
import subprocess

import jsonschema
import pytest

from conftest import BUILD, ROOT

SCHEMA = json.loads((ROOT / "schemas" / "profile.schema.json").read_text())
PROFILES = sorted(p for p in (ROOT / "shared" / "profiles").glob("*.json")
                  if not p.name.endswith(".rules.json"))
FIXTURES = ROOT / "tests" / "fixtures" / "extract"


def run(profile, page, url, *headers, env=None):
    out = subprocess.run([str(BUILD / "tools" / "extract_run"), profile, str(FIXTURES / page), url,
                          *headers], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_builtin_profile_matches_schema(path):
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)


@pytest.mark.parametrize("profile,page,url", [
    ("amazon.product", "amazon_product_us.html", "https://www.amazon.com/dp/B09VPHVT2Z"),
    ("amazon.product", "amazon_product_de.html", "https://www.amazon.de/dp/B00D8KFWIC"),
    ("amazon.product", "amazon_product_jp.html", "https://www.amazon.co.jp/dp/4101010013"),
    ("amazon.search", "amazon_search.html", "https://www.amazon.com/s?k=usb+c+charger"),
    ("company", "company_jsonld.html", "https://acme.example/"),
    ("company", "company_plain.html", "https://mueller-soehne.example/"),
    ("tech", "tech_wordpress.html", "https://beanleaf.example/"),
    ("tech", "tech_next.html", "https://launchpad.example/"),
])
def test_data_matches_documented_fields(profile, page, url):
    got = run(profile, page, url, "Server: nginx/1.25.3")
    assert got["status"] == "ok"
    data_schema = dict(SCHEMA["$defs"][profile], **{"$defs": SCHEMA["$defs"]})
    jsonschema.validate(got["data"], data_schema)


def test_captcha_is_a_status_not_data():
    got = run("amazon.product", "amazon_captcha.html", "https://www.amazon.com/dp/B09VPHVT2Z")
    assert got["status"] == "captcha"


def test_bad_profile_dir_names_the_file(tmp_path):
    (tmp_path / "broken.json").write_text('{"name": "x", "url": "https://a/", '
                                          '"extract": {"fields": {"t": "h1:hover"}}}')
    env = dict(os.environ, FERRY_PROFILES_DIR=str(tmp_path))
    out = subprocess.run([str(BUILD / "tools" / "extract_run"), "x",
                          str(FIXTURES / "company_plain.html"), "https://a/"],
                         capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 1
    assert f"{tmp_path}/broken.json: extract.fields.t: position 4: unsupported pseudo-class" \
        in out.stderr
