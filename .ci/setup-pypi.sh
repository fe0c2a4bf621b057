#!/usr/bin/env bash
# Installs what the PyPI tests need on Debian 12 (as root): Debian's python3
# with setuptools and wheel, which build the test fixtures (a wheel and an
# sdist per project), pip, the client the end-to-end tests install with,
# and twine (Debian's package "twine", the python3 module), which they
# upload to hosted projects with. The tests run /usr/bin/python3
# (proxy/pypi/pypitest.Python), never a python found on PATH. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pkgs=(
	python3
	python3-pip
	python3-setuptools
	python3-wheel
	twine
)
apt_need "${pkgs[@]}"
/usr/bin/python3 -c 'import setuptools, wheel'
/usr/bin/python3 -m pip --version >/dev/null
/usr/bin/python3 -m twine --version >/dev/null
