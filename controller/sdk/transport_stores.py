"""The CLI's requests for the controller's stores and access: agent releases, the content and
parameter stores, patch baselines and compliance, keys, documents, groups, operators, policies and
the audit trail. A part of the CLI's wire edge (client.py holds the connection, commands and nodes):
typed values in, the controller's messages out, which render.py turns into rows."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from controller.model import Tag, Targets
from controller.wire import tags_to_pb, targets_to_pb
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg


class StoreRequests:
    """Mixed into :class:`~controller.sdk.transport.AdminClient`, whose channel it uses."""
    stub: pbg.AdminServiceStub
    timeout: float

    # ---- agent releases

    def publish_release(self, filename: str, data: bytes, part_bytes: int = 1024 * 1024) -> pb.AgentRelease:
        """Publish a wheel, sent in parts (a message holds at most 4 MiB)."""
        parts = [pb.PublishAgentReleaseRequest(filename=filename, data=data[:part_bytes])]
        parts += [pb.PublishAgentReleaseRequest(data=data[i:i + part_bytes])
                  for i in range(part_bytes, len(data), part_bytes)]
        return self.stub.PublishAgentRelease(iter(parts), timeout=self.timeout * 4).release

    def put_content(self, name: str, data: bytes, part_bytes: int = 1024 * 1024) -> pb.ContentFile:
        parts = [pb.PutContentRequest(name=name, data=data[:part_bytes])]
        parts += [pb.PutContentRequest(data=data[i:i + part_bytes]) for i in range(part_bytes, len(data), part_bytes)]
        return self.stub.PutContent(iter(parts), timeout=self.timeout * 4).file

    def list_content(self) -> list[pb.ContentFile]:
        return list(self.stub.ListContent(pb.ListContentRequest(), timeout=self.timeout).files)

    def delete_content(self, name: str) -> None:
        self.stub.DeleteContent(pb.DeleteContentRequest(name=name), timeout=self.timeout)

    # ---- the parameter store

    def put_parameter(self, name: str, type_: str, value: str, description: str, overwrite: bool) -> int:
        request = pb.PutParameterRequest(name=name, type=type_, value=value, description=description,
                                         overwrite=overwrite)
        return self.stub.PutParameter(request, timeout=self.timeout).version

    def get_parameter(self, name: str, with_decryption: bool) -> pb.Parameter:
        request = pb.GetParameterRequest(name=name, with_decryption=with_decryption)
        return self.stub.GetParameter(request, timeout=self.timeout).parameter

    def list_parameters(self, path: str) -> list[pb.Parameter]:
        return list(self.stub.ListParameters(pb.ListParametersRequest(path=path), timeout=self.timeout).parameters)

    def delete_parameter(self, name: str) -> None:
        self.stub.DeleteParameter(pb.DeleteParameterRequest(name=name), timeout=self.timeout)

    def list_releases(self) -> list[pb.AgentRelease]:
        return list(self.stub.ListAgentReleases(pb.ListAgentReleasesRequest(), timeout=self.timeout).releases)

    def delete_release(self, version: str) -> None:
        self.stub.DeleteAgentRelease(pb.DeleteAgentReleaseRequest(version=version), timeout=self.timeout)

    # ---- patch baselines and compliance

    def put_baseline(self, name: str, content: str, create: bool) -> pb.Baseline:
        request = pb.PutBaselineRequest(name=name, content=content, create=create)
        return self.stub.PutBaseline(request, timeout=self.timeout).baseline

    def list_baselines(self) -> list[pb.Baseline]:
        return list(self.stub.ListBaselines(pb.ListBaselinesRequest(), timeout=self.timeout).baselines)

    def get_baseline(self, name: str) -> pb.Baseline:
        return self.stub.GetBaseline(pb.GetBaselineRequest(name=name), timeout=self.timeout).baseline

    def delete_baseline(self, name: str) -> None:
        self.stub.DeleteBaseline(pb.DeleteBaselineRequest(name=name), timeout=self.timeout)

    def list_compliance(self, non_compliant_only: bool = False, page_size: int = 0) -> list[pb.NodeCompliance]:
        """Every node's latest compliance (summaries without records), by node id, a page at a time."""
        request = pb.ListComplianceRequest(non_compliant_only=non_compliant_only, max_results=page_size)
        return [n for page in self._pages(self.stub.ListCompliance, request) for n in page.nodes]

    def get_compliance(self, node_id: str) -> pb.NodeCompliance:
        return self.stub.GetCompliance(pb.GetComplianceRequest(node_id=node_id), timeout=self.timeout).compliance

    def rotate_signing_key(self) -> pb.RotateSigningKeyResponse:
        return self.stub.RotateSigningKey(pb.RotateSigningKeyRequest(), timeout=self.timeout)

    def rotate_master_key(self, timeout_seconds: float) -> pb.RotateMasterKeyResponse:
        return self.stub.RotateMasterKey(pb.RotateMasterKeyRequest(), timeout=timeout_seconds)

    def deregister_node(self, node_id: str) -> pb.DeregisterNodeResponse:
        return self.stub.DeregisterNode(pb.DeregisterNodeRequest(node_id=node_id), timeout=self.timeout)

    def tag_node(self, node_id: str, tags: tuple[Tag, ...] = (), remove: Iterable[str] = ()) -> pb.Node:
        request = pb.TagNodeRequest(node_id=node_id, tags=tags_to_pb(tags), remove=list(remove))
        return self.stub.TagNode(request, timeout=self.timeout).node

    # ---- documents

    def put_document(self, name: str, content: bytes, fmt: str, create: bool,
                     version_name: str = "") -> pb.PutDocumentResponse:
        request = pb.PutDocumentRequest(name=name, content=content, format=fmt, create=create,
                                        version_name=version_name)
        return self.stub.PutDocument(request, timeout=self.timeout)

    def list_documents(self) -> list[pb.DocumentInfo]:
        return list(self.stub.ListDocuments(pb.ListDocumentsRequest(), timeout=self.timeout).documents)

    def get_document(self, name: str, version: str = "", version_name: str = "") -> pb.GetDocumentResponse:
        request = pb.GetDocumentRequest(name=name, version=version, version_name=version_name)
        return self.stub.GetDocument(request, timeout=self.timeout)

    def delete_document(self, name: str, version: int = 0, version_name: str = "") -> None:
        """The whole document; or, with ``version`` or ``version_name``, that version only."""
        request = pb.DeleteDocumentRequest(name=name, version=version, version_name=version_name)
        self.stub.DeleteDocument(request, timeout=self.timeout)

    def list_document_versions(self, name: str) -> list[pb.DocumentInfo]:
        request = pb.ListDocumentVersionsRequest(name=name)
        return list(self.stub.ListDocumentVersions(request, timeout=self.timeout).versions)

    def set_default_version(self, name: str, version: int) -> pb.DocumentInfo:
        request = pb.SetDefaultVersionRequest(name=name, version=version)
        return self.stub.SetDefaultVersion(request, timeout=self.timeout).document

    # ---- groups

    def put_group(self, name: str, targets: Targets) -> pb.Group:
        request = pb.PutGroupRequest(group=pb.Group(name=name, targets=targets_to_pb(targets)))
        return self.stub.PutGroup(request, timeout=self.timeout).group

    def list_groups(self) -> list[pb.Group]:
        return list(self.stub.ListGroups(pb.ListGroupsRequest(), timeout=self.timeout).groups)

    def get_group(self, name: str) -> pb.GetGroupResponse:
        return self.stub.GetGroup(pb.GetGroupRequest(name=name), timeout=self.timeout)

    def delete_group(self, name: str) -> None:
        self.stub.DeleteGroup(pb.DeleteGroupRequest(name=name), timeout=self.timeout)

    # ---- access: operators and policies

    def create_operator(self, name: str, csr_pem: bytes, valid_days: int, policies: Iterable[str]
                        ) -> pb.CreateOperatorResponse:
        request = pb.CreateOperatorRequest(name=name, csr_pem=csr_pem, valid_days=valid_days, policies=list(policies))
        return self.stub.CreateOperator(request, timeout=self.timeout)

    def renew_operator(self, name: str, csr_pem: bytes, valid_days: int) -> pb.RenewOperatorResponse:
        request = pb.RenewOperatorRequest(name=name, csr_pem=csr_pem, valid_days=valid_days)
        return self.stub.RenewOperator(request, timeout=self.timeout)

    def list_operators(self) -> list[pb.Operator]:
        return list(self.stub.ListOperators(pb.ListOperatorsRequest(), timeout=self.timeout).operators)

    def get_operator(self, name: str) -> pb.Operator:
        return self.stub.GetOperator(pb.GetOperatorRequest(name=name), timeout=self.timeout).operator

    def revoke_operator(self, name: str) -> pb.RevokeOperatorResponse:
        return self.stub.RevokeOperator(pb.RevokeOperatorRequest(name=name), timeout=self.timeout)

    def put_policy(self, name: str, document: str, create: bool) -> pb.Policy:
        request = pb.PutPolicyRequest(name=name, document=document, create=create)
        return self.stub.PutPolicy(request, timeout=self.timeout).policy

    def list_policies(self) -> list[pb.Policy]:
        return list(self.stub.ListPolicies(pb.ListPoliciesRequest(), timeout=self.timeout).policies)

    def get_policy(self, name: str) -> pb.Policy:
        return self.stub.GetPolicy(pb.GetPolicyRequest(name=name), timeout=self.timeout).policy

    def delete_policy(self, name: str) -> None:
        self.stub.DeletePolicy(pb.DeletePolicyRequest(name=name), timeout=self.timeout)

    def attach_policy(self, policy: str, operator: str, detach: bool = False) -> pb.Operator:
        request = pb.AttachPolicyRequest(policy=policy, operator=operator, detach=detach)
        return self.stub.AttachPolicy(request, timeout=self.timeout).operator

    def simulate_policy(self, operator: str, action: str, document: str, targets: Targets | None,
                        resources: Iterable[str], source_ip: str = "") -> pb.SimulatePolicyResponse:
        request = pb.SimulatePolicyRequest(operator=operator, action=action, document=document,
                                           resources=list(resources), source_ip=source_ip)
        if targets is not None:
            request.targets.CopyFrom(targets_to_pb(targets))
        return self.stub.SimulatePolicy(request, timeout=self.timeout)

    def read_audit(self, *, after_seq: int = 0, since_ms: int = 0, until_ms: int = 0, actor: str = "",
                   action: str = "", limit: int = 0, heads: bool = False) -> Iterator[pb.AuditPage]:
        """ReadAudit: the trail a page at a time (no deadline, as for the other streams)."""
        request = pb.ReadAuditRequest(after_seq=after_seq, since_ms=since_ms, until_ms=until_ms, actor=actor,
                                      action=action, limit=limit, heads=heads)
        call = self.stub.ReadAudit(request)
        try:
            yield from call
        finally:
            call.cancel()
