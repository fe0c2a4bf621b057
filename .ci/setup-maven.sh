#!/usr/bin/env bash
# Installs what the Maven tests need on Debian 12 (as root): maven, a JDK,
# and the plugins and libraries a tiny `mvn package` resolves, which Debian
# ships as a Maven repository under /usr/share/maven-repo. The test upstream
# (proxy/maven/maventest) serves that tree. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

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
apt_need "${pkgs[@]}"
command -v mvn >/dev/null
command -v javac >/dev/null
