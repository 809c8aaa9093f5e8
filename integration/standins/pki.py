"""A throw-away test PKI made with the `openssl` command: a CA, server certificates with the
names a client checks (IP 127.0.0.1 and ::1, DNS localhost and the in-cluster service names), client
certificates, and server-side TLS contexts. Shared by the API server and kubelet stand-ins (and by
the etcd tests).

    pki = PKI()                       # a new CA in a new temporary directory
    pki.ca_file                       # PEM path: what a client trusts (kubeconfig, kubeapi_ca_file)
    cert, key = pki.server_cert("kube-apiserver")        # SANs: 127.0.0.1, ::1, localhost, ...
    cert, key = pki.client_cert("etcd-client", orgs=["system:masters"])
    cert, key = pki.self_signed("kubelet")  # its own issuer, as kubelets' serving certs often are
    ctx = pki.server_context(cert, key, client_ca=pki.ca_file)   # ssl.SSLContext, http/1.1 ALPN
    other = PKI()                     # an unrelated CA: its certificates fail verification
    pki.cleanup()                     # removes the directory

RSA 2048 keys, SHA-256 signatures, serverAuth / clientAuth extended key usage: what kubeadm makes.
"""
import os
import shutil
import ssl
import subprocess
import tempfile

SERVER_NAMES = ("IP:127.0.0.1", "IP:::1", "DNS:localhost", "DNS:kubernetes",
                "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local")


class PKI:
    def __init__(self, directory=None, ca_name="tapio-test-ca"):
        self.dir = directory or tempfile.mkdtemp(prefix="tapio-pki-")
        self._own_dir = directory is None
        self.ca_file = os.path.join(self.dir, "ca.crt")
        self.ca_key = os.path.join(self.dir, "ca.key")
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
                      "-keyout", self.ca_key, "-out", self.ca_file, "-subj", "/CN=" + ca_name,
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign")

    def _openssl(self, *args):
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.strip()))

    def _issue(self, name, subject, extensions):
        cert = os.path.join(self.dir, name + ".crt")
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("\n".join(extensions) + "\n")
        self._openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                      "-subj", subject)
        self._openssl("x509", "-req", "-sha256", "-days", "365", "-in", csr, "-CA", self.ca_file,
                      "-CAkey", self.ca_key, "-CAcreateserial", "-out", cert, "-extfile", ext)
        os.unlink(csr)
        return cert, key

    def server_cert(self, name="kube-apiserver", names=SERVER_NAMES):
        """A serving certificate signed by this CA; returns (cert path, key path)."""
        return self._issue(name, "/CN=" + name, [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth",
            "subjectAltName=" + ",".join(names)])

    def client_cert(self, cn, orgs=()):
        """A client certificate (CN = user, O = groups, as Kubernetes reads them)."""
        subject = "/" + "/".join(["O=" + o for o in orgs] + ["CN=" + cn])
        return self._issue("client-" + cn.replace(":", "_"), subject, [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=clientAuth"])

    def self_signed(self, name="kubelet", names=SERVER_NAMES):
        """A certificate that is its own issuer (the kubelet's default serving certificate):
        verifying it against this PKI's CA fails; it is its own trust anchor."""
        cert = os.path.join(self.dir, name + "-self.crt")
        key = os.path.join(self.dir, name + "-self.key")
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "365",
                      "-keyout", key, "-out", cert, "-subj", "/CN=%s@%d" % (name, os.getpid()),
                      "-addext", "basicConstraints=critical,CA:FALSE",
                      "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
                      "-addext", "extendedKeyUsage=serverAuth",
                      "-addext", "subjectAltName=" + ",".join(names))
        return cert, key

    @staticmethod
    def server_context(cert, key, client_ca=None):
        """A server TLS context. With client_ca, a client certificate is asked for and verified
        when one is sent (optional, as the API server does: tokens work without one)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        # HTTP/1.1 only: chunked watches and their faults exist only there. A real API server
        # also offers h2; clients fall back to http/1.1 when it is not offered.
        ctx.set_alpn_protocols(["http/1.1"])
        if client_ca:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    def cleanup(self):
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
