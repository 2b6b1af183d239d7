"""The Makefile's release builds share one set of flags. SwiftPM reuses the build plan of an
earlier invocation whose flags differed only in -Xswiftc options, so a release build without
-static-stdlib between `make build` and `make python` once left the engine linked against the
shared Swift runtime, and a fresh clone's `make demo` failed the engine's link check."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def release_builds(text):
    """Every `$(SWIFT) build -c release` recipe line of the default scratch path."""
    return [line.strip() for line in text.splitlines()
            if re.search(r"\$\(SWIFT\) build -c release", line) and "--scratch-path" not in line]


def test_every_release_build_passes_the_static_runtime_flags():
    with open(os.path.join(ROOT, "Makefile")) as f:
        builds = release_builds(f.read())
    # npusim, the two yardsticks and the engine at least.
    assert len(builds) >= 4, builds
    assert any("--product NPUSimEngine" in b for b in builds), builds
    missing = [b for b in builds if "$(SWIFT_LINK)" not in b]
    assert missing == [], f"release builds without $(SWIFT_LINK): {missing}"


def test_the_check_sees_a_build_without_the_flags():
    text = "build:\n\t$(SWIFT) build -c release --product a $(SWIFT_LINK)\n\t$(SWIFT) build -c release --product b\n"
    builds = release_builds(text)
    assert [b for b in builds if "$(SWIFT_LINK)" not in b] == ["$(SWIFT) build -c release --product b"]
