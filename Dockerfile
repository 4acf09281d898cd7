# ghcr.io/foldup/foldup:<version>: foldup on Alpine, for CI jobs that run in an image (the GitLab
# component's and the orb's default). CircleCI and GitLab jobs need sh, git (checkout), tar
# (workspaces, caches, artifacts), ssh (CircleCI's checkout) and CA certificates besides foldup.
#
# The release workflow builds it for linux/amd64 and linux/arm64 from the archives it has just
# built and pinned (target/dist/foldup-<version>-<target>.tar.gz in the build context):
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=<version> .
FROM alpine:3.21

ARG VERSION
ARG TARGETARCH

# Alpine's packages follow the 3.21 branch's security fixes; pinning their exact versions would
# break the build at every fix, so they are deliberately unpinned.
# hadolint ignore=DL3018
RUN apk add --no-cache ca-certificates git openssh-client tar

WORKDIR /tmp/dist
COPY target/dist/ /tmp/dist/

# The archive is checked against the .sha256 made with it in the same workflow run, the one whose
# checksum that run pinned.
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-musl ;; \
      arm64) target=aarch64-unknown-linux-musl ;; \
      *) echo "no foldup build for $TARGETARCH" >&2; exit 1 ;; \
    esac; \
    name="foldup-$VERSION-$target"; \
    sha256sum -c "$name.tar.gz.sha256"; \
    tar -xzf "$name.tar.gz"; \
    install -m 0755 "$name/foldup" /usr/local/bin/foldup; \
    rm -rf /tmp/dist/*; \
    foldup --version

WORKDIR /

CMD ["foldup", "--help"]
