# Makes the course's package importable in this kernel. In a checkout it does nothing; where the
# package is missing (Colab, Binder, a bare Jupyter) it pip-installs it, from GENCLASS_INSTALL_FROM
# if set (a wheel, a folder, a URL), else from the course's repository. Safe to run twice.
import importlib
import importlib.util
import os
import site
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("genclass_utils") is None:
    _repo = next((p for p in (Path.cwd(), *Path.cwd().parents)
                  if (p / "genclass_utils" / "__init__.py").is_file()), None)
    if _repo is not None:  # a checkout that was not installed: import it from where it is
        sys.path.insert(0, str(_repo))
    else:
        _source = os.environ.get("GENCLASS_INSTALL_FROM",
                                 "git+https://github.com/genclass/generate-to-classify@main")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", _source], check=True)
        if site.ENABLE_USER_SITE and site.getusersitepackages() not in sys.path:
            site.addsitedir(site.getusersitepackages())  # pip fell back to a --user install
    importlib.invalidate_caches()
import genclass_utils  # noqa: E402,F401
