"""The few CloudFormation intrinsics the optimizer's template uses, resolved against the
resources the emulator created."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UnsupportedIntrinsic(Exception):
    pass


class Resolver:
    def __init__(self, *, region: str, account: str) -> None:
        self.refs: dict[str, Any] = {
            "AWS::Partition": "aws",
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        self.attributes: dict[tuple[str, str], Any] = {}

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((name, arg),) = node.items()
            if name == "Ref":
                return self._lookup(self.refs, arg, f"Ref {arg}")
            if name == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._lookup(self.attributes, (logical_id, attribute), f"Fn::GetAtt {logical_id}.{attribute}")
            if name == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(part)) for part in parts)
            if name == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if name == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if name.startswith("Fn::"):
                raise UnsupportedIntrinsic(f"{name} is not supported by the emulator")
        return {key: self.resolve(value) for key, value in node.items()}

    @staticmethod
    def _lookup(table: Mapping[Any, Any], key: Any, what: str) -> Any:
        if key not in table:
            raise KeyError(f"{what}: not created (yet) in the emulator")
        return table[key]


def resources_of_type(template: Mapping[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == cfn_type}
