#!/usr/bin/env bash
# Installs what the Maven tests need on Debian 12 (as root): maven, a JDK,
# and the plugins and libraries a tiny `mvn package` resolves, which Debian
# ships as a Maven repository under /usr/share/maven-repo. The test upstream
# (proxy/maven/maventest) serves that tree. Idempotent.
set -euo pipefail

# Exactly what `mvn package` of proxy/maven/testdata/app and `mvn deploy`
# of proxy/maven/testdata/lib resolve (the default lifecycle's plugins,
# install and deploy included, relocated by Debian's poms to the versions
# it ships, and junit); everything else they need comes as dependencies.
pkgs=(
	maven
	default-jdk-headless
	libmaven-resources-plugin-java
	libmaven-compiler-plugin-java
	libsurefire-java
	libmaven-jar-plugin-java
	libmaven-install-plugin-java
	libmaven-deploy-plugin-java
	junit4
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v mvn >/dev/null
command -v javac >/dev/null
