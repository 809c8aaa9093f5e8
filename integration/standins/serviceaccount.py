"""A service-account volume as the kubelet writes it into a pod, with its rotation.

The kubelet's projected volume (AtomicWriter) is not three plain files: each file is a symlink
through `..data` to a timestamped directory, and an update writes a new directory and swaps the
`..data` symlink with one rename, so a reader sees the old set or the new set, never a mix:

    <dir>/token     -> ..data/token
    <dir>/ca.crt    -> ..data/ca.crt
    <dir>/namespace -> ..data/namespace
    <dir>/..data    -> ..2024_05_01_10_00_00.123456789
    <dir>/..2024_05_01_10_00_00.123456789/{token,ca.crt,namespace}

A client that re-reads `<dir>/token` by path sees the new token; one that watches the file's inode
(inotify on `token` itself) does not, exactly as in a real pod.

    sa = ServiceAccountDir("/tmp/x/serviceaccount", token="t1", ca_file=pki.ca_file)
    sa.token_file, sa.ca_file, sa.namespace_file
    sa.write_token("t2")              # the kubelet's rotation: one atomic symlink swap
"""
import datetime
import os
import shutil


class ServiceAccountDir:
    def __init__(self, path, token, ca_file, namespace="tapio"):
        self.path = path
        os.makedirs(path, exist_ok=True)
        with open(ca_file) as f:
            self._ca = f.read()
        self._namespace = namespace
        self._generation = 0
        self.token = None
        self.write_token(token)

    @property
    def token_file(self):
        return os.path.join(self.path, "token")

    @property
    def ca_file(self):
        return os.path.join(self.path, "ca.crt")

    @property
    def namespace_file(self):
        return os.path.join(self.path, "namespace")

    def write_token(self, token):
        """Publishes a new token the way the kubelet does: new directory, `..data` swapped by a
        rename, the previous directory removed."""
        self._generation += 1
        now = datetime.datetime.now(datetime.timezone.utc)
        # The kubelet names it after the time; the generation keeps two rotations in the same
        # nanosecond (or a coarse clock) apart.
        ts = now.strftime("..%Y_%m_%d_%H_%M_%S.") + "%06d%03d" % (now.microsecond, self._generation)
        new_dir = os.path.join(self.path, ts)
        os.mkdir(new_dir, 0o755)
        files = (("token", token), ("ca.crt", self._ca), ("namespace", self._namespace))
        for name, content in files:
            with open(os.path.join(new_dir, name), "w") as f:
                f.write(content)
            os.chmod(os.path.join(new_dir, name), 0o644)
        data = os.path.join(self.path, "..data")
        old = os.readlink(data) if os.path.islink(data) else None
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(ts, tmp)
        os.rename(tmp, data)
        for name in ("token", "ca.crt", "namespace"):
            link = os.path.join(self.path, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)
        if old:
            shutil.rmtree(os.path.join(self.path, old), ignore_errors=True)
        self.token = token
