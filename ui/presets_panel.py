"""The preset browser: factory and user presets; load, save, rename, delete, import,
export.

The panel lists ``engine.presets.list_presets()`` and asks its window for the state to
save (``window.preset_state()``) and to apply a loaded one
(``window.apply_preset(preset)``). Every refusal (a malformed file, another model's
preset, a name taken) is shown in the panel as one sentence. Qt main thread only.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from engine import presets as store

__all__ = ["PresetsPanel"]


class PresetsPanel(QtWidgets.QWidget):
    """A list of presets and the buttons that act on the selected one."""

    def __init__(self, window: QtWidgets.QWidget) -> None:
        super().__init__()
        self.window_ = window
        self.current: str | None = None  # the preset last loaded or saved
        self.entries: dict[str, store.PresetEntry] = {}  # name -> file, as listed
        self.list = QtWidgets.QListWidget()
        self.list.itemDoubleClicked.connect(lambda item: self.load_selected())
        self.message = QtWidgets.QLabel()
        self.message.setWordWrap(True)
        self.message.setObjectName("dim")
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.list, 1)
        grid = QtWidgets.QGridLayout()
        actions = (
            ("Load", self.load_selected),
            ("Save as…", self.save_as),
            ("Rename…", self.rename_selected),
            ("Delete", self.delete_selected),
            ("Import…", self.import_file),
            ("Export…", self.export_selected),
        )
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        for i, (label, slot) in enumerate(actions):
            b = QtWidgets.QPushButton(label)
            b.clicked.connect(slot)
            grid.addWidget(b, i // 2, i % 2)
            self.buttons[label] = b
        lay.addLayout(grid)
        lay.addWidget(self.message)

    # -- listing -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the factory and user presets."""
        self.list.clear()
        self.entries = {e.name: e for e in store.list_presets()}
        for info in self.entries.values():
            user = not info.factory
            item = QtWidgets.QListWidgetItem(
                info.name if user else f"{info.name}  (factory)"
            )
            item.setData(QtCore.Qt.UserRole, info.name)
            item.setData(QtCore.Qt.UserRole + 1, user)
            if not user:
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
                item.setForeground(QtGui.QColor("#9aa3b5"))
            self.list.addItem(item)
            if info.name == self.current:
                self.list.setCurrentItem(item)
        if not self.entries:
            hint = QtWidgets.QListWidgetItem(
                "No presets yet.\n“Save as…” keeps the pad's\n"
                "corners, position and sound."
            )
            hint.setFlags(QtCore.Qt.NoItemFlags)
            hint.setForeground(QtGui.QColor("#8a91a3"))
            self.list.addItem(hint)

    def names(self) -> list[str]:
        return list(self.entries)

    def selected(self) -> tuple[str, bool] | None:
        item = self.list.currentItem()
        if item is None:
            self.say("Select a preset first.")
            return None
        return item.data(QtCore.Qt.UserRole), bool(item.data(QtCore.Qt.UserRole + 1))

    def say(self, text: str, error: bool = False) -> None:
        self.message.setObjectName("error" if error else "dim")
        self.message.setStyleSheet("")  # re-apply the style for the new object name
        self.message.setText(text)

    # -- actions -----------------------------------------------------------------------
    def load(self, name_or_path: str | Path):
        """The preset, or None after saying why it was refused."""
        model_id = self.window_.model_id()
        try:
            return store.load_preset(name_or_path, model_id)
        except (store.PresetError, OSError) as err:
            self.say(str(err), error=True)
            return None

    def load_selected(self) -> None:
        sel = self.selected()
        if sel is None:
            return
        preset = self.load(sel[0])
        if preset is not None:
            self.window_.apply_preset(preset)
            self.current = sel[0]
            self.say(f"Loaded “{sel[0]}”.")

    def save_as(self, name: str | None = None) -> bool:
        """Save the current pad and sound as a user preset (asks for a name)."""
        if not name:
            name, ok = QtWidgets.QInputDialog.getText(
                self, "Save preset", "Name:", text=self.current or ""
            )
            if not ok or not name.strip():
                return False
        name = name.strip()
        try:
            store.save_preset(self.window_.preset_state(name))
        except (store.PresetError, OSError) as err:
            self.say(str(err), error=True)
            return False
        self.current = name
        self.refresh()
        self.say(f"Saved “{name}”.")
        return True

    def rename_selected(self, new: str | None = None) -> bool:
        sel = self.selected()
        if sel is None:
            return False
        if not sel[1]:
            self.say("Factory presets cannot be renamed; save a copy instead.", True)
            return False
        if not new:
            new, ok = QtWidgets.QInputDialog.getText(
                self, "Rename preset", "New name:", text=sel[0]
            )
            if not ok or not new.strip():
                return False
        try:
            old = store.load_preset(sel[0], None)
            store.save_preset(dataclasses.replace(old, name=new.strip()))
            store.delete_preset(sel[0])
        except (store.PresetError, OSError) as err:
            self.say(str(err), error=True)
            return False
        self.current = new.strip() if self.current == sel[0] else self.current
        self.refresh()
        self.say(f"Renamed to “{new.strip()}”.")
        return True

    def delete_selected(self, confirm: bool = True) -> bool:
        sel = self.selected()
        if sel is None:
            return False
        if not sel[1]:
            self.say("Factory presets cannot be deleted.", True)
            return False
        if confirm:
            answer = QtWidgets.QMessageBox.question(
                self, "Delete preset", f"Delete “{sel[0]}”?"
            )
            if answer != QtWidgets.QMessageBox.Yes:
                return False
        try:
            store.delete_preset(sel[0])
        except (store.PresetError, OSError) as err:
            self.say(str(err), error=True)
            return False
        self.current = None if self.current == sel[0] else self.current
        self.refresh()
        self.say(f"Deleted “{sel[0]}”.")
        return True

    def import_file(self, path: str | None = None) -> bool:
        """Load a preset file and keep it as a user preset."""
        if not path:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self, "Import preset", "", "Presets (*.json);;All files (*)"
            )
            if not path:
                return False
        preset = self.load(Path(path))
        if preset is None:
            return False
        self.window_.apply_preset(preset)
        return self.save_as(preset.name)

    def export_selected(self, path: str | None = None) -> bool:
        """Write the selected preset to a file of the user's choice."""
        sel = self.selected()
        if sel is None:
            return False
        if not path:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, "Export preset", f"{sel[0]}.json", "Presets (*.json)"
            )
            if not path:
                return False
        try:
            shutil.copyfile(self.entries[sel[0]].path, path)
        except (KeyError, OSError) as err:
            self.say(f"Cannot export “{sel[0]}”: {err}", error=True)
            return False
        self.say(f"Exported “{sel[0]}” to {path}.")
        return True

    def ask_preset(self, title: str) -> str | None:
        """Let the user pick a preset name from the list (None: cancelled or none)."""
        names = self.names()
        if not names:
            self.say("There are no presets yet: save one first.")
            return None
        name, ok = QtWidgets.QInputDialog.getItem(
            self, title, "Preset:", names, 0, False
        )
        return name if ok else None
