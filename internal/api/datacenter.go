package api

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/inventory"
	"github.com/vireo-project/vireo/internal/soap"
)

// Datacenter methods other than the ManagedEntity ones (entity.go) belong to
// later issues (PowerOnMultiVM_Task is the VM code's).
func (s *Service) registerDatacenter(t *soap.Table) {}

// CreateDatacenter creates a datacenter called name in folder, with its four
// folders "vm", "host", "datastore" and "network", as Folder.CreateDatacenter
// does, and posts a DatacenterCreatedEvent. Faults: InvalidName,
// DuplicateName, NotSupported (folder cannot hold datacenters),
// ManagedObjectNotFound.
func (s *Service) CreateDatacenter(ctx context.Context, user string, folder types.ManagedObjectReference, name string) (types.ManagedObjectReference, error) {
	name, err := entityName(name, "datacenter")
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	var (
		ref        types.ManagedObjectReference
		parentName string
	)
	err = s.reg.Update(ctx, func(tx *inventory.Txn) error {
		f, err := folderFor(tx, folder, "Datacenter")
		if err != nil {
			return err
		}
		if err := checkUnique(tx, f.ChildEntity, name, ref); err != nil {
			return err
		}
		parentName = f.Name
		ref = tx.NewRef("Datacenter")
		dc := &mo.Datacenter{}
		initEntity(&dc.ManagedEntity, ref, name, &f.Self)
		dc.VmFolder = newFolderTxn(tx, "vm", ref, vmFolderTypes)
		dc.HostFolder = newFolderTxn(tx, "host", ref, hostFolderTypes)
		dc.DatastoreFolder = newFolderTxn(tx, "datastore", ref, datastoreFolderTypes)
		dc.NetworkFolder = newFolderTxn(tx, "network", ref, networkFolderTypes)
		tx.Create(dc, true)
		addChildTxn(tx, f.Self, ref)
		return nil
	})
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	s.postEvent(&types.DatacenterCreatedEvent{Parent: folderArg(parentName, folder)}, user, 0, ref,
		fmt.Sprintf("Created datacenter %s in folder %s", name, parentName))
	return ref, nil
}
